-- The shard of a wallet's stats rows is `hashtext(id) & 7` now: `abs(hashtext(id)) % 8` raised
-- "integer out of range" for the one hash value abs() cannot negate (-2^31), so every change of such a
-- wallet would have failed. Shards only spread the writers of a project's rows; every reader sums
-- them, so rows already under the old shard stay right. credits_consume_batch (0019) orders its
-- consumes by the same shard, so it changes with it.
--
-- Tried and not kept: counting the stats once per saved wallet from the ledger instead of once per
-- entry. Measured as PostgreSQL backend CPU per operation (one connection, old and new definitions
-- alternated): a plan renewal 1.09× of per-entry, 16 consumes over 16 wallets 1.20×, 32 consumes of one
-- wallet 0.83× — the extra ledger read and the seq read cost about what the upserts they saved did.

CREATE OR REPLACE FUNCTION credits_entry(
  INOUT w credit_wallets, p_kind text, p_bucket text, p_amount bigint, p_reserved bigint, p_debt bigint,
  p_lot uuid, p_source text, p_description text
) LANGUAGE plpgsql AS $$
DECLARE sh smallint; g bigint := 0; c bigint := 0; e bigint := 0; k bigint := 0;
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
  IF p_bucket IS NOT NULL AND p_amount <> 0 THEN
    sh := hashtext(w.id::text) & 7;
    IF p_kind IN ('grant', 'referral_bonus') OR (p_kind = 'adjustment' AND p_amount > 0) THEN g := p_amount;
    ELSIF p_kind = 'consume' OR (p_kind = 'adjustment' AND p_amount < 0) THEN c := -p_amount;
    ELSIF p_kind IN ('expire', 'reset') THEN e := -p_amount;
    ELSIF p_kind = 'clawback' THEN k := -p_amount;
    END IF;
    IF g <> 0 OR c <> 0 OR e <> 0 OR k <> 0 THEN
      INSERT INTO stats_credits_daily AS s (project_id, mode, day, shard, granted, consumed, expired, clawed_back)
      VALUES (w.project_id, w.mode, (now() AT TIME ZONE 'UTC')::date, sh, g, c, e, k)
      ON CONFLICT (project_id, mode, day, shard) DO UPDATE SET granted = s.granted + excluded.granted, consumed = s.consumed + excluded.consumed,
        expired = s.expired + excluded.expired, clawed_back = s.clawed_back + excluded.clawed_back;
    END IF;
    INSERT INTO stats_credits_current AS s (project_id, mode, shard, outstanding) VALUES (w.project_id, w.mode, sh, p_amount)
    ON CONFLICT (project_id, mode, shard) DO UPDATE SET outstanding = s.outstanding + excluded.outstanding;
  END IF;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION credits_consume_batch(p_items jsonb) RETURNS jsonb LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE c record; wallets uuid[]; answers jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p_items)]);
BEGIN
  -- Each wallet is found by its unique key (one index probe per item, whatever the planner thinks of
  -- the JSON's row count), then all are locked in one statement.
  SELECT array_agg(DISTINCT x.id) INTO wallets FROM (
    SELECT (SELECT w.id FROM credit_wallets w WHERE w.project_id = i.project_id AND w.mode = i.mode AND w.end_user_id = i.end_user_id) AS id
    FROM jsonb_to_recordset(p_items) AS i(project_id uuid, mode text, end_user_id text)) x
  WHERE x.id IS NOT NULL;
  PERFORM 1 FROM credit_wallets WHERE id = ANY(wallets) ORDER BY id FOR UPDATE;
  FOR c IN SELECT * FROM (
      SELECT i.*, (SELECT w.id FROM credit_wallets w WHERE w.project_id = i.project_id AND w.mode = i.mode AND w.end_user_id = i.end_user_id) AS wallet_id
      FROM ROWS FROM (jsonb_to_recordset(p_items) AS (project_id uuid, mode text, end_user_id text, amount bigint, key text, fingerprint text, description text, metadata jsonb))
        WITH ORDINALITY AS i(project_id, mode, end_user_id, amount, key, fingerprint, description, metadata, n)) x
    ORDER BY x.project_id, x.mode, hashtext(x.wallet_id::text) & 7, x.wallet_id, x.n
  LOOP
    answers[c.n] := credits_consume(c.project_id, c.mode, c.end_user_id, c.amount, c.key, c.fingerprint, c.description, c.metadata);
  END LOOP;
  RETURN to_jsonb(answers);
END
$$;
