-- A change of plan grants the difference at once (DESIGN.md, Credits): a plan's monthly grant tops its
-- period up to credits_per_period × quantity instead of adding a whole plan's credits.
DROP FUNCTION credits_grant(uuid, text, text, text, text, bigint, text, timestamptz, timestamptz, bigint, boolean, timestamptz, text, text);
--> statement-breakpoint
-- A grant, once per source: a lot for p_amount in p_bucket, the debt paid from it first, a refund
-- that arrived before it applied at once. A monthly grant (p_reset) closes the open monthly lots of
-- older periods with a `reset` entry; a monthly grant older than an open one is reset at once.
-- p_top_up: p_amount is what the period (p_period_start) holds in all, and the lot is what its
-- monthly lots do not hold yet, counted under the wallet's lock (a plan's invoice and a change of
-- plan in one period grant the larger plan once, in whichever order they arrive).
-- Returns the lot's id, or null when the source had granted already or there was nothing to grant.
CREATE FUNCTION credits_grant(
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
  IF w.debt > 0 THEN
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
--> statement-breakpoint

-- A paid invoice of a plan's subscription, or a change of plan (the op's description says so): the
-- period topped up to credits_per_period × quantity monthly credits, the older periods' monthly lots
-- reset unless the plan rolls over. A trialing subscription: the plan's trial credits, once (source
-- trial:sub_…). Nothing when the price is no plan of the project or the end user is unknown.
CREATE OR REPLACE FUNCTION credits_plan_grant(op jsonb, p_trial boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE pl credit_plans; who text := credits_end_user(op); amount bigint;
BEGIN
  IF who IS NULL THEN RETURN; END IF;
  SELECT * INTO pl FROM credit_plans WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND price_id = op->>'price';
  IF NOT FOUND THEN RETURN; END IF;
  amount := CASE WHEN p_trial THEN pl.trial_credits ELSE pl.credits_per_period END * greatest(coalesce((op->>'quantity')::bigint, 1), 1);
  PERFORM credits_grant((op->>'project')::uuid, op->>'mode', who, 'monthly', 'grant', amount, op->>'source', NULL,
    (op->>'period_start')::timestamptz, (op->>'paid')::bigint, NOT p_trial AND NOT pl.rollover, (op->>'period_end')::timestamptz,
    coalesce(pl.name, pl.product_name, pl.price_id) || CASE WHEN p_trial THEN ' (trial)' WHEN op->>'description' IS NOT NULL THEN ' (' || (op->>'description') || ')' ELSE '' END,
    op->>'payment_intent', NOT p_trial);
END
$$;
--> statement-breakpoint

-- The end user an operation names, or the one our checkout linked to its Stripe customer. PL/pgSQL so
-- that an operation naming its end user costs no query (the SQL function planned its lookup on every
-- call: 62 µs of a grant's 355).
CREATE OR REPLACE FUNCTION credits_end_user(op jsonb) RETURNS text LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF op->>'end_user' IS NOT NULL THEN RETURN op->>'end_user'; END IF;
  RETURN (SELECT c.end_user_id FROM customers c
    WHERE c.project_id = (op->>'project')::uuid AND c.mode = op->>'mode' AND c.stripe_customer_id = op->>'customer' LIMIT 1);
END
$$;
--> statement-breakpoint

-- PL/pgSQL for the same reason: a SQL function's UPDATE was planned on every save (63 µs; now its plan is cached).
CREATE OR REPLACE FUNCTION credits_save(w credit_wallets) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  UPDATE credit_wallets SET monthly = w.monthly, purchased = w.purchased, bonus = w.bonus, reserved = w.reserved, debt = w.debt,
    seq = w.seq, next_reset_at = w.next_reset_at, updated_at = now()
  WHERE id = w.id;
END
$$;
--> statement-breakpoint

-- The same for every SQL function a consume or a read runs: a plan cached per connection instead of one per call.
CREATE OR REPLACE FUNCTION credits_balance(w credit_wallets) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RETURN jsonb_build_object(
    'end_user_id', w.end_user_id, 'monthly', w.monthly, 'purchased', w.purchased, 'bonus', w.bonus,
    'total', w.monthly + w.purchased + w.bonus, 'reserved', w.reserved, 'debt', w.debt,
    'available', greatest(w.monthly + w.purchased + w.bonus - w.reserved - w.debt, 0),
    'next_reset_at', w.next_reset_at,
    'expiring', coalesce((SELECT jsonb_agg(jsonb_build_object('amount', e.amount, 'expires_at', e.expires_at) ORDER BY e.expires_at)
      FROM (SELECT sum(remaining) AS amount, expires_at FROM credit_lots WHERE wallet_id = w.id AND remaining > 0 AND expires_at IS NOT NULL AND expires_at > now()
            GROUP BY expires_at ORDER BY expires_at LIMIT 10) e), '[]'::jsonb));
END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION credits_remembered(p_project uuid, p_mode text, p_key text, p_fingerprint text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT CASE WHEN r.fingerprint = p_fingerprint THEN jsonb_build_object('status', r.status, 'body', r.response::jsonb, 'replayed', true)
      ELSE jsonb_build_object('status', 409, 'code', 'idempotency_key_reused') END
    FROM credit_requests r WHERE r.project_id = p_project AND r.mode = p_mode AND r.key = p_key);
END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION credits_remember(p_project uuid, p_mode text, p_key text, p_fingerprint text, p_status int, p_body jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO credit_requests (project_id, mode, key, fingerprint, status, response) VALUES (p_project, p_mode, p_key, p_fingerprint, p_status, p_body::text);
  RETURN jsonb_build_object('status', p_status, 'body', p_body);
END
$$;
