-- A grant already past its expiry (a purchase delivered late, e.g. by a resync) is closed by its
-- `expire` entry right after the grant, before it pays debt and before a refund that arrived first
-- takes from it. It stayed open until the wallet's next change, so expired credits paid debt and
-- absorbed a refund that a refund arriving after the grant (which closes what is due first) takes
-- from the other lots or records as debt: the outcome depended on the order of delivery.
-- Otherwise as in 0012.
CREATE OR REPLACE FUNCTION credits_grant(
  p_project uuid, p_mode text, p_end_user text, p_bucket text, p_kind text, p_amount bigint, p_source text,
  p_expires_at timestamptz, p_period_start timestamptz, p_paid bigint, p_reset boolean, p_next_reset_at timestamptz, p_description text,
  p_payment_intent text DEFAULT NULL, p_top_up boolean DEFAULT false
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; lot uuid; l record; pay bigint; pending credit_pending_refunds; stale boolean := false;
BEGIN
  IF p_amount <= 0 THEN RETURN NULL; END IF;
  w := credits_wallet(p_project, p_mode, p_end_user, true);
  IF EXISTS (SELECT 1 FROM credit_lots WHERE project_id = p_project AND mode = p_mode AND source = p_source) THEN RETURN NULL; END IF;
  w := credits_expire_due(w, now());
  IF p_top_up AND p_period_start IS NOT NULL THEN
    p_amount := p_amount - coalesce((SELECT sum(granted) FROM credit_lots WHERE wallet_id = w.id AND bucket = 'monthly' AND period_start = p_period_start), 0);
    IF p_amount <= 0 THEN PERFORM credits_save(w); RETURN NULL; END IF;
  END IF;
  IF p_reset THEN
    FOR l IN SELECT id, remaining, source FROM credit_lots
      WHERE wallet_id = w.id AND bucket = 'monthly' AND remaining > 0 AND (period_start IS NULL OR p_period_start IS NULL OR period_start < p_period_start)
      ORDER BY period_start NULLS FIRST, created_at, id FOR UPDATE
    LOOP
      UPDATE credit_lots SET remaining = 0, closed_at = now() WHERE id = l.id;
      w := credits_entry(w, 'reset', 'monthly', -l.remaining, 0, 0, l.id, l.source, 'new period');
    END LOOP;
    stale := p_period_start IS NOT NULL AND EXISTS (SELECT 1 FROM credit_lots WHERE wallet_id = w.id AND bucket = 'monthly' AND period_start > p_period_start);
  END IF;
  INSERT INTO credit_lots (wallet_id, project_id, mode, bucket, granted, remaining, paid_amount, stripe_payment_intent_id, period_start, expires_at, source)
  VALUES (w.id, p_project, p_mode, p_bucket, p_amount, p_amount, p_paid, p_payment_intent, p_period_start, p_expires_at, p_source)
  RETURNING id INTO lot;
  w := credits_entry(w, p_kind, p_bucket, p_amount, 0, 0, lot, p_source, p_description);
  IF p_expires_at IS NOT NULL AND p_expires_at <= now() THEN
    UPDATE credit_lots SET remaining = 0, closed_at = now() WHERE id = lot;
    w := credits_entry(w, 'expire', p_bucket, -p_amount, 0, 0, lot, p_source, 'expired');
  ELSIF w.debt > 0 THEN
    pay := least(w.debt, p_amount);
    UPDATE credit_lots SET remaining = remaining - pay WHERE id = lot;
    w := credits_entry(w, 'debt', p_bucket, -pay, 0, -pay, lot, p_source, 'debt paid from this grant');
  END IF;
  SELECT * INTO pending FROM credit_pending_refunds
    WHERE project_id = p_project AND mode = p_mode AND source = 'payment_intent:' || p_payment_intent FOR UPDATE;
  IF FOUND THEN
    DELETE FROM credit_pending_refunds WHERE project_id = p_project AND mode = p_mode AND source = pending.source;
    w := credits_take_back(w, lot, pending.refunded, coalesce(p_paid, pending.paid), 'refund');
  END IF;
  IF stale THEN
    SELECT remaining INTO pay FROM credit_lots WHERE id = lot;
    IF pay > 0 THEN
      UPDATE credit_lots SET remaining = 0, closed_at = now() WHERE id = lot;
      w := credits_entry(w, 'reset', 'monthly', -pay, 0, 0, lot, p_source, 'an older period');
    END IF;
  END IF;
  IF p_next_reset_at IS NOT NULL AND (w.next_reset_at IS NULL OR p_next_reset_at > w.next_reset_at) THEN w.next_reset_at := p_next_reset_at; END IF;
  PERFORM credits_save(w);
  RETURN lot;
END
$$;
