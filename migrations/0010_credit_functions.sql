-- The credits ledger engine. Every change to lots, wallets and the ledger is one of these
-- functions, called from the one statement (or transaction) that records its cause: a webhook
-- batch, a consume, an adjustment. Each locks the wallet it changes (FOR UPDATE, one wallet at a
-- time, callers sort by wallet), so entries of one wallet are numbered 1, 2, 3 … with no gap, and
-- writes each entry with the balances after it. modules/credits/ holds the rules in TypeScript
-- that decide what to grant; these hold the wallet's mechanics.

-- The ledger is append-only.
CREATE OR REPLACE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'credit_ledger entries are never changed or deleted' USING ERRCODE = 'insufficient_privilege';
END
$$;
--> statement-breakpoint
CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
--> statement-breakpoint

-- One entry: moves `amount` into `bucket` (or, with no bucket, `reserved`/`debt` by their deltas),
-- numbers it and records the balances after it. The wallet is saved by the caller (credits_save).
CREATE OR REPLACE FUNCTION credits_entry(
  INOUT w credit_wallets, p_kind text, p_bucket text, p_amount bigint, p_reserved bigint, p_debt bigint,
  p_lot uuid, p_source text, p_description text
) LANGUAGE plpgsql AS $$
BEGIN
  IF p_bucket = 'monthly' THEN w.monthly := w.monthly + p_amount;
  ELSIF p_bucket = 'purchased' THEN w.purchased := w.purchased + p_amount;
  ELSIF p_bucket = 'bonus' THEN w.bonus := w.bonus + p_amount;
  END IF;
  w.reserved := w.reserved + p_reserved;
  w.debt := w.debt + p_debt;
  w.seq := w.seq + 1;
  INSERT INTO credit_ledger (wallet_id, seq, kind, bucket, amount, monthly_after, purchased_after, bonus_after, reserved_after, debt_after, lot_id, source, description)
  VALUES (w.id, w.seq, p_kind, p_bucket, CASE WHEN p_bucket IS NULL THEN p_reserved + p_debt ELSE p_amount END,
    w.monthly, w.purchased, w.bonus, w.reserved, w.debt, p_lot, p_source, left(p_description, 500));
END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION credits_save(w credit_wallets) RETURNS void LANGUAGE sql AS $$
  UPDATE credit_wallets SET monthly = w.monthly, purchased = w.purchased, bonus = w.bonus, reserved = w.reserved, debt = w.debt,
    seq = w.seq, next_reset_at = w.next_reset_at, updated_at = now()
  WHERE id = w.id;
$$;
--> statement-breakpoint

-- The wallet of an end user, locked; created first when p_create (else null when there is none).
CREATE OR REPLACE FUNCTION credits_wallet(p_project uuid, p_mode text, p_end_user text, p_create boolean) RETURNS credit_wallets
LANGUAGE plpgsql AS $$
DECLARE w credit_wallets;
BEGIN
  SELECT * INTO w FROM credit_wallets WHERE project_id = p_project AND mode = p_mode AND end_user_id = p_end_user FOR UPDATE;
  IF NOT FOUND AND p_create THEN
    INSERT INTO credit_wallets (project_id, mode, end_user_id) VALUES (p_project, p_mode, p_end_user) ON CONFLICT DO NOTHING;
    SELECT * INTO w FROM credit_wallets WHERE project_id = p_project AND mode = p_mode AND end_user_id = p_end_user FOR UPDATE;
  END IF;
  RETURN w;
END
$$;
--> statement-breakpoint

-- What is due by p_now: each lot past its expiry is closed by one `expire` entry, each reservation
-- past its TTL released by one `release` entry.
CREATE OR REPLACE FUNCTION credits_expire_due(INOUT w credit_wallets, p_now timestamptz) LANGUAGE plpgsql AS $$
DECLARE l record; r record;
BEGIN
  FOR l IN SELECT id, bucket, remaining, source FROM credit_lots
    WHERE wallet_id = w.id AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= p_now ORDER BY expires_at, created_at, id FOR UPDATE
  LOOP
    UPDATE credit_lots SET remaining = 0, closed_at = p_now WHERE id = l.id;
    w := credits_entry(w, 'expire', l.bucket, -l.remaining, 0, 0, l.id, l.source, 'expired');
  END LOOP;
  FOR r IN SELECT id, amount FROM credit_reservations WHERE wallet_id = w.id AND status = 'held' AND expires_at <= p_now ORDER BY expires_at, id FOR UPDATE
  LOOP
    UPDATE credit_reservations SET status = 'expired', settled_at = p_now WHERE id = r.id;
    w := credits_entry(w, 'release', NULL, 0, -r.amount, 0, NULL, 'reservation:' || r.id, 'reservation expired');
  END LOOP;
END
$$;
--> statement-breakpoint

-- Takes p_amount from the wallet's open lots in the spending order (monthly first, then bonus and
-- purchased by soonest expiry, never-expiring last, then oldest), one entry per lot; only from
-- p_buckets. Returns what could not be taken.
CREATE OR REPLACE FUNCTION credits_take(
  INOUT w credit_wallets, INOUT p_amount bigint, p_kind text, p_buckets text[], p_source text, p_description text, p_skip_lot uuid DEFAULT NULL
) LANGUAGE plpgsql AS $$
DECLARE l record; t bigint;
BEGIN
  FOR l IN SELECT id, bucket, remaining FROM credit_lots
    WHERE wallet_id = w.id AND remaining > 0 AND bucket = ANY(p_buckets) AND id IS DISTINCT FROM p_skip_lot
    ORDER BY (bucket = 'monthly') DESC, expires_at ASC NULLS LAST, created_at, id FOR UPDATE
  LOOP
    EXIT WHEN p_amount <= 0;
    t := least(l.remaining, p_amount);
    UPDATE credit_lots SET remaining = remaining - t, closed_at = CASE WHEN remaining = t THEN now() ELSE NULL END WHERE id = l.id;
    w := credits_entry(w, p_kind, l.bucket, -t, 0, 0, l.id, p_source, p_description);
    p_amount := p_amount - t;
  END LOOP;
END
$$;
--> statement-breakpoint

-- A refund's share of a lot's grant, taken back: floor(granted × refunded ÷ paid) minus what was
-- taken already, from that lot first, then from other purchased and bonus lots by soonest expiry;
-- what cannot be taken is recorded as debt, which the next grant pays first.
CREATE OR REPLACE FUNCTION credits_take_back(INOUT w credit_wallets, p_lot uuid, p_refunded bigint, p_paid bigint, p_description text) LANGUAGE plpgsql AS $$
DECLARE l credit_lots; target bigint; t bigint; rest bigint; res record;
BEGIN
  SELECT * INTO l FROM credit_lots WHERE id = p_lot FOR UPDATE;
  IF p_paid <= 0 THEN RETURN; END IF;
  target := (l.granted * least(p_refunded, p_paid)) / p_paid - l.taken_back;
  IF target <= 0 THEN RETURN; END IF;
  UPDATE credit_lots SET taken_back = taken_back + target WHERE id = l.id;
  t := least(l.remaining, target);
  IF t > 0 THEN
    UPDATE credit_lots SET remaining = remaining - t, closed_at = CASE WHEN remaining = t THEN now() ELSE NULL END WHERE id = l.id;
    w := credits_entry(w, 'clawback', l.bucket, -t, 0, 0, l.id, l.source, p_description);
  END IF;
  rest := target - t;
  IF rest > 0 THEN
    SELECT * INTO res FROM credits_take(w, rest, 'clawback', ARRAY['purchased', 'bonus'], l.source, p_description, l.id); w := res.w; rest := res.p_amount;
  END IF;
  IF rest > 0 THEN
    w := credits_entry(w, 'debt', NULL, 0, 0, rest, l.id, l.source, 'refunded credits already spent');
  END IF;
END
$$;
--> statement-breakpoint

-- A grant, once per source: a lot for p_amount in p_bucket, the debt paid from it first, a refund
-- that arrived before it applied at once. A monthly grant (p_reset) closes the open monthly lots of
-- older periods with a `reset` entry; a monthly grant older than an open one is reset at once.
-- Returns the lot's id, or null when the source had granted already.
CREATE OR REPLACE FUNCTION credits_grant(
  p_project uuid, p_mode text, p_end_user text, p_bucket text, p_kind text, p_amount bigint, p_source text,
  p_expires_at timestamptz, p_period_start timestamptz, p_paid bigint, p_reset boolean, p_next_reset_at timestamptz, p_description text,
  p_payment_intent text DEFAULT NULL
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; lot uuid; l record; pay bigint; pending credit_pending_refunds; stale boolean := false;
BEGIN
  IF p_amount <= 0 THEN RETURN NULL; END IF;
  w := credits_wallet(p_project, p_mode, p_end_user, true);
  IF EXISTS (SELECT 1 FROM credit_lots WHERE project_id = p_project AND mode = p_mode AND source = p_source) THEN RETURN NULL; END IF;
  w := credits_expire_due(w, now());
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

-- A refund of a payment (p_refunded is cumulative, as Stripe's amount_refunded): takes back each of
-- its lots' share; before a grant exists, kept under the payment intent until the grant is made.
CREATE OR REPLACE FUNCTION credits_refund(p_project uuid, p_mode text, p_payment_intent text, p_refunded bigint, p_paid bigint, p_description text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; lot record; found_one boolean := false;
BEGIN
  IF p_payment_intent IS NULL OR p_refunded <= 0 THEN RETURN false; END IF;
  FOR lot IN SELECT id, wallet_id, paid_amount FROM credit_lots WHERE project_id = p_project AND mode = p_mode AND stripe_payment_intent_id = p_payment_intent ORDER BY created_at, id
  LOOP
    found_one := true;
    SELECT * INTO w FROM credit_wallets WHERE id = lot.wallet_id FOR UPDATE;
    w := credits_expire_due(w, now());
    w := credits_take_back(w, lot.id, p_refunded, coalesce(lot.paid_amount, p_paid), p_description);
    PERFORM credits_save(w);
  END LOOP;
  IF NOT found_one THEN
    INSERT INTO credit_pending_refunds (project_id, mode, source, refunded, paid) VALUES (p_project, p_mode, 'payment_intent:' || p_payment_intent, p_refunded, p_paid)
    ON CONFLICT (project_id, mode, source) DO UPDATE SET refunded = greatest(credit_pending_refunds.refunded, excluded.refunded), paid = excluded.paid, updated_at = now();
  END IF;
  RETURN found_one;
END
$$;
--> statement-breakpoint

-- The end user an operation names, or the one our checkout linked to its Stripe customer.
CREATE OR REPLACE FUNCTION credits_end_user(op jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(op->>'end_user', (SELECT c.end_user_id FROM customers c
    WHERE c.project_id = (op->>'project')::uuid AND c.mode = op->>'mode' AND c.stripe_customer_id = op->>'customer' LIMIT 1));
$$;
--> statement-breakpoint

-- A paid invoice of a plan's subscription: credits_per_period × quantity monthly credits for its
-- period (source invoice:in_…), the older periods' monthly lots reset unless the plan rolls over.
-- A trialing subscription: the plan's trial credits, once (source trial:sub_…). Nothing when the
-- price is no plan of the project or the end user is unknown.
CREATE OR REPLACE FUNCTION credits_plan_grant(op jsonb, p_trial boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE pl credit_plans; who text := credits_end_user(op); amount bigint;
BEGIN
  IF who IS NULL THEN RETURN; END IF;
  SELECT * INTO pl FROM credit_plans WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND price_id = op->>'price';
  IF NOT FOUND THEN RETURN; END IF;
  amount := CASE WHEN p_trial THEN pl.trial_credits ELSE pl.credits_per_period END * greatest(coalesce((op->>'quantity')::bigint, 1), 1);
  PERFORM credits_grant((op->>'project')::uuid, op->>'mode', who, 'monthly', 'grant', amount, op->>'source', NULL,
    (op->>'period_start')::timestamptz, (op->>'paid')::bigint, NOT p_trial AND NOT pl.rollover, (op->>'period_end')::timestamptz,
    coalesce(op->>'description', coalesce(pl.name, pl.product_name, pl.price_id) || CASE WHEN p_trial THEN ' (trial)' ELSE '' END),
    op->>'payment_intent');
END
$$;
--> statement-breakpoint

-- Closes every open lot of a bucket (a cancelled subscription's monthly credits).
CREATE OR REPLACE FUNCTION credits_close_bucket(p_project uuid, p_mode text, p_end_user text, p_bucket text, p_source text, p_description text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; l record;
BEGIN
  w := credits_wallet(p_project, p_mode, p_end_user, false);
  IF w.id IS NULL THEN RETURN; END IF;
  w := credits_expire_due(w, now());
  FOR l IN SELECT id, remaining FROM credit_lots WHERE wallet_id = w.id AND bucket = p_bucket AND remaining > 0 ORDER BY created_at, id FOR UPDATE
  LOOP
    UPDATE credit_lots SET remaining = 0, closed_at = now() WHERE id = l.id;
    w := credits_entry(w, 'expire', p_bucket, -l.remaining, 0, 0, l.id, p_source, p_description);
  END LOOP;
  w.next_reset_at := NULL;
  PERFORM credits_save(w);
END
$$;
--> statement-breakpoint

-- One pipeline operation (a jsonb built in modules/credits/model.ts): what a webhook batch writes.
CREATE OR REPLACE FUNCTION credits_apply(op jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE who text;
BEGIN
  IF op->>'op' = 'purchase' THEN
    who := credits_end_user(op);
    IF who IS NOT NULL THEN
      PERFORM credits_grant((op->>'project')::uuid, op->>'mode', who, 'purchased', 'grant', (op->>'amount')::bigint, op->>'source',
        (op->>'expires_at')::timestamptz, NULL, (op->>'paid')::bigint, false, NULL, op->>'description', op->>'payment_intent');
    END IF;
  ELSIF op->>'op' = 'plan_invoice' THEN
    PERFORM credits_plan_grant(op, false);
  ELSIF op->>'op' = 'trial' THEN
    PERFORM credits_plan_grant(op, true);
  ELSIF op->>'op' = 'refund' THEN
    PERFORM credits_refund((op->>'project')::uuid, op->>'mode', op->>'payment_intent', (op->>'refunded')::bigint, (op->>'paid')::bigint, op->>'description');
  ELSIF op->>'op' = 'close' THEN
    who := credits_end_user(op);
    IF who IS NOT NULL THEN
      PERFORM credits_close_bucket((op->>'project')::uuid, op->>'mode', who, 'monthly', op->>'source', op->>'description');
    END IF;
  ELSE
    RAISE EXCEPTION 'unknown credits operation %', op->>'op';
  END IF;
  RETURN true;
END
$$;
--> statement-breakpoint

-- The balance view of a locked (or just read) wallet.
CREATE OR REPLACE FUNCTION credits_balance(w credit_wallets) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object(
    'end_user_id', w.end_user_id, 'monthly', w.monthly, 'purchased', w.purchased, 'bonus', w.bonus,
    'total', w.monthly + w.purchased + w.bonus, 'reserved', w.reserved, 'debt', w.debt,
    'available', greatest(w.monthly + w.purchased + w.bonus - w.reserved - w.debt, 0),
    'next_reset_at', w.next_reset_at,
    'expiring', coalesce((SELECT jsonb_agg(jsonb_build_object('amount', e.amount, 'expires_at', e.expires_at) ORDER BY e.expires_at)
      FROM (SELECT sum(remaining) AS amount, expires_at FROM credit_lots WHERE wallet_id = w.id AND remaining > 0 AND expires_at IS NOT NULL AND expires_at > now()
            GROUP BY expires_at ORDER BY expires_at LIMIT 10) e), '[]'::jsonb));
$$;
--> statement-breakpoint

-- The balance view as the next change will leave it: lots past their expiry and reservations past
-- their TTL that no change has closed yet are left out (a read writes nothing).
CREATE OR REPLACE FUNCTION credits_balance_due(w credit_wallets) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE due record; n bigint;
BEGIN
  FOR due IN SELECT bucket, sum(remaining) AS amount FROM credit_lots
    WHERE wallet_id = w.id AND remaining > 0 AND expires_at IS NOT NULL AND expires_at <= now() GROUP BY bucket
  LOOP
    IF due.bucket = 'monthly' THEN w.monthly := w.monthly - due.amount;
    ELSIF due.bucket = 'purchased' THEN w.purchased := w.purchased - due.amount;
    ELSE w.bonus := w.bonus - due.amount;
    END IF;
  END LOOP;
  SELECT coalesce(sum(amount), 0) INTO n FROM credit_reservations WHERE wallet_id = w.id AND status = 'held' AND expires_at <= now();
  w.reserved := w.reserved - n;
  RETURN credits_balance(w);
END
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION credits_empty_balance(p_end_user text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('end_user_id', p_end_user, 'monthly', 0, 'purchased', 0, 'bonus', 0, 'total', 0, 'reserved', 0, 'debt', 0,
    'available', 0, 'next_reset_at', NULL, 'expiring', '[]'::jsonb);
$$;
--> statement-breakpoint

-- The answer an idempotency key already has (replayed), or 409 for another body; null when new.
CREATE OR REPLACE FUNCTION credits_remembered(p_project uuid, p_mode text, p_key text, p_fingerprint text) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN r.fingerprint = p_fingerprint THEN jsonb_build_object('status', r.status, 'body', r.response::jsonb, 'replayed', true)
    ELSE jsonb_build_object('status', 409, 'code', 'idempotency_key_reused') END
  FROM credit_requests r WHERE r.project_id = p_project AND r.mode = p_mode AND r.key = p_key;
$$;
--> statement-breakpoint

CREATE OR REPLACE FUNCTION credits_remember(p_project uuid, p_mode text, p_key text, p_fingerprint text, p_status int, p_body jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  INSERT INTO credit_requests (project_id, mode, key, fingerprint, status, response) VALUES (p_project, p_mode, p_key, p_fingerprint, p_status, p_body::text);
  SELECT jsonb_build_object('status', p_status, 'body', p_body);
$$;
--> statement-breakpoint

-- A consume, all or nothing, in one call: 200 with the balance after it, 402 with the balance and
-- nothing spent (and not remembered: the key may be used again after a purchase), a replay of the
-- key's first answer, or 409 for the key with another body.
CREATE OR REPLACE FUNCTION credits_consume(p_project uuid, p_mode text, p_end_user text, p_amount bigint, p_key text, p_fingerprint text, p_description text, p_metadata jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; known jsonb; cid uuid := gen_random_uuid(); rest bigint; first_seq bigint; res record;
BEGIN
  w := credits_wallet(p_project, p_mode, p_end_user, false);
  known := credits_remembered(p_project, p_mode, p_key, p_fingerprint);
  IF known IS NOT NULL THEN RETURN known; END IF;
  IF w.id IS NULL THEN RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_empty_balance(p_end_user)); END IF;
  w := credits_expire_due(w, now());
  IF w.monthly + w.purchased + w.bonus - w.reserved - w.debt < p_amount THEN
    PERFORM credits_save(w);
    RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_balance(w));
  END IF;
  first_seq := w.seq + 1;
  SELECT * INTO res FROM credits_take(w, p_amount, 'consume', ARRAY['monthly', 'purchased', 'bonus'], 'consumption:' || cid, p_description); w := res.w; rest := res.p_amount;
  IF rest > 0 THEN RAISE EXCEPTION 'credits_consume: the lots hold less than the wallet says (%)', w.id; END IF;
  PERFORM credits_save(w);
  RETURN credits_remember(p_project, p_mode, p_key, p_fingerprint, 200, jsonb_build_object(
    'id', cid, 'end_user_id', p_end_user, 'amount', p_amount, 'description', p_description, 'metadata', p_metadata,
    'ledger_seq', jsonb_build_array(first_seq, w.seq), 'balance', credits_balance(w)));
END
$$;
--> statement-breakpoint

-- Credits set aside: 201 with the reservation, 402 when not available (not remembered), a replay, or 409.
CREATE OR REPLACE FUNCTION credits_reserve(p_project uuid, p_mode text, p_end_user text, p_amount bigint, p_ttl_seconds int, p_key text, p_fingerprint text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; known jsonb; r credit_reservations;
BEGIN
  w := credits_wallet(p_project, p_mode, p_end_user, false);
  known := credits_remembered(p_project, p_mode, p_key, p_fingerprint);
  IF known IS NOT NULL THEN RETURN known; END IF;
  IF w.id IS NULL THEN RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_empty_balance(p_end_user)); END IF;
  w := credits_expire_due(w, now());
  IF w.monthly + w.purchased + w.bonus - w.reserved - w.debt < p_amount THEN
    PERFORM credits_save(w);
    RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_balance(w));
  END IF;
  INSERT INTO credit_reservations (wallet_id, amount, expires_at) VALUES (w.id, p_amount, now() + make_interval(secs => p_ttl_seconds)) RETURNING * INTO r;
  w := credits_entry(w, 'reserve', NULL, 0, p_amount, 0, NULL, 'reservation:' || r.id, NULL);
  PERFORM credits_save(w);
  RETURN credits_remember(p_project, p_mode, p_key, p_fingerprint, 201, jsonb_build_object(
    'id', r.id, 'end_user_id', p_end_user, 'amount', r.amount, 'status', r.status, 'expires_at', r.expires_at, 'balance', credits_balance(w)));
END
$$;
--> statement-breakpoint

-- Commits (p_commit: spends p_amount, at most the reservation's, and releases the rest) or releases
-- a held reservation of this project and mode. 404 for another's, 409 once settled or expired.
CREATE OR REPLACE FUNCTION credits_settle(p_project uuid, p_mode text, p_reservation uuid, p_commit boolean, p_amount bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; r credit_reservations; spend bigint; rest bigint; res record;
BEGIN
  SELECT w2.* INTO w FROM credit_reservations r2 JOIN credit_wallets w2 ON w2.id = r2.wallet_id
    WHERE r2.id = p_reservation AND w2.project_id = p_project AND w2.mode = p_mode FOR UPDATE OF w2;
  IF w.id IS NULL THEN RETURN jsonb_build_object('status', 404, 'code', 'not_found'); END IF;
  w := credits_expire_due(w, now());
  SELECT * INTO r FROM credit_reservations WHERE id = p_reservation FOR UPDATE;
  IF r.status <> 'held' THEN
    PERFORM credits_save(w);
    RETURN jsonb_build_object('status', 409, 'code', 'reservation_' || r.status, 'reservation', jsonb_build_object('id', r.id, 'status', r.status));
  END IF;
  spend := CASE WHEN p_commit THEN coalesce(p_amount, r.amount) ELSE 0 END;
  IF spend > r.amount THEN RETURN jsonb_build_object('status', 422, 'code', 'amount_exceeds_reservation', 'reserved', r.amount); END IF;
  w := credits_entry(w, 'release', NULL, 0, -r.amount, 0, NULL, 'reservation:' || r.id, CASE WHEN p_commit THEN 'committed' ELSE 'released' END);
  IF spend > 0 THEN
    SELECT * INTO res FROM credits_take(w, spend, 'consume', ARRAY['monthly', 'purchased', 'bonus'], 'reservation:' || r.id, 'reservation committed'); w := res.w; rest := res.p_amount;
    IF rest > 0 THEN RAISE EXCEPTION 'credits_settle: the lots hold less than the reservation (%)', r.id; END IF;
  END IF;
  UPDATE credit_reservations SET status = CASE WHEN p_commit THEN 'committed' ELSE 'released' END, settled_at = now() WHERE id = r.id;
  PERFORM credits_save(w);
  RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('id', r.id, 'end_user_id', w.end_user_id, 'amount', r.amount, 'committed', spend,
    'status', CASE WHEN p_commit THEN 'committed' ELSE 'released' END, 'balance', credits_balance(w)));
END
$$;
--> statement-breakpoint

-- A developer's adjustment, once per key: a positive amount is a lot in p_bucket (source
-- adjustment:<key>), a negative one takes from that bucket's lots (402 when they hold less).
CREATE OR REPLACE FUNCTION credits_adjust(p_project uuid, p_mode text, p_end_user text, p_amount bigint, p_bucket text, p_reason text, p_key text, p_fingerprint text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; known jsonb; rest bigint; have bigint; res record;
BEGIN
  w := credits_wallet(p_project, p_mode, p_end_user, p_amount > 0);
  known := credits_remembered(p_project, p_mode, p_key, p_fingerprint);
  IF known IS NOT NULL THEN RETURN known; END IF;
  IF p_amount > 0 THEN
    PERFORM credits_grant(p_project, p_mode, p_end_user, p_bucket, 'adjustment', p_amount, 'adjustment:' || p_key, NULL, NULL, NULL, false, NULL, p_reason);
    SELECT * INTO w FROM credit_wallets WHERE id = w.id;
  ELSE
    IF w.id IS NULL THEN RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_empty_balance(p_end_user)); END IF;
    w := credits_expire_due(w, now());
    have := CASE p_bucket WHEN 'monthly' THEN w.monthly WHEN 'purchased' THEN w.purchased ELSE w.bonus END;
    IF have < -p_amount THEN
      PERFORM credits_save(w);
      RETURN jsonb_build_object('status', 402, 'code', 'insufficient_credits', 'balance', credits_balance(w));
    END IF;
    SELECT * INTO res FROM credits_take(w, -p_amount, 'adjustment', ARRAY[p_bucket], 'adjustment:' || p_key, p_reason); w := res.w; rest := res.p_amount;
    PERFORM credits_save(w);
  END IF;
  RETURN credits_remember(p_project, p_mode, p_key, p_fingerprint, 200, jsonb_build_object(
    'end_user_id', p_end_user, 'amount', p_amount, 'bucket', p_bucket, 'reason', p_reason, 'balance', credits_balance(w)));
END
$$;
--> statement-breakpoint

-- The sweep: wallets with a lot past expiry or a reservation past its TTL, each settled by
-- credits_expire_due under its lock (wallets another instance holds are skipped). Returns how many.
CREATE OR REPLACE FUNCTION credits_sweep(p_limit int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE w credit_wallets; n int := 0; wid uuid;
BEGIN
  FOR wid IN SELECT DISTINCT wallet_id FROM (
      (SELECT wallet_id FROM credit_lots WHERE remaining > 0 AND expires_at IS NOT NULL AND expires_at <= now() LIMIT p_limit)
      UNION ALL (SELECT wallet_id FROM credit_reservations WHERE status = 'held' AND expires_at <= now() LIMIT p_limit)) d
  LOOP
    SELECT * INTO w FROM credit_wallets WHERE id = wid FOR UPDATE SKIP LOCKED;
    CONTINUE WHEN NOT FOUND;
    w := credits_expire_due(w, now());
    PERFORM credits_save(w);
    n := n + 1;
  END LOOP;
  RETURN n;
END
$$;
