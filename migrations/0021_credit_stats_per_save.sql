-- The credit stats counted once per saved wallet instead of once per ledger entry. credits_entry (0011)
-- upserted two stats rows for every entry it wrote: a plan renewal (a reset and a grant) took four
-- upserts of the same two rows, a batch of 32 consumes of one wallet 64, and the upserts were 15-20 %
-- of a batch's database time. Now credits_entry writes the ledger only, and what it wrote is counted
-- from the ledger itself: credits_save counts a wallet's entries since its stored seq (at most one
-- upsert per stats table), and a consume batch counts all of its wallets once, at its end.
--
-- The shard of a wallet's stats rows is `hashtext(id) & 7` now: `abs(hashtext(id)) % 8` raised
-- "integer out of range" for the one hash value abs() cannot negate. Shards only spread the writers
-- of a project's rows; every reader sums them, so rows already under the old shard stay right.

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

-- Counts into the stats the ledger entries of each wallet after the seq given for it: granted,
-- consumed, expired and clawed back of today, and what is outstanding, summed per stats row (project,
-- mode, shard) and written in that row order, daily then current for each, by every writer.
CREATE FUNCTION credits_count(p_wallets uuid[], p_after bigint[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m record; today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
  FOR m IN SELECT w.project_id, w.mode, hashtext(w.id::text) & 7 AS shard,
      sum(CASE WHEN l.kind IN ('grant', 'referral_bonus') OR (l.kind = 'adjustment' AND l.amount > 0) THEN l.amount ELSE 0 END) AS g,
      sum(CASE WHEN l.kind = 'consume' OR (l.kind = 'adjustment' AND l.amount < 0) THEN -l.amount ELSE 0 END) AS c,
      sum(CASE WHEN l.kind IN ('expire', 'reset') THEN -l.amount ELSE 0 END) AS e,
      sum(CASE WHEN l.kind = 'clawback' THEN -l.amount ELSE 0 END) AS k,
      sum(l.amount) AS o
    FROM unnest(p_wallets, p_after) AS u(id, after)
    JOIN credit_wallets w ON w.id = u.id
    JOIN credit_ledger l ON l.wallet_id = u.id AND l.seq > u.after
    WHERE l.bucket IS NOT NULL AND l.amount <> 0
    GROUP BY 1, 2, 3
    ORDER BY 1, 2, 3
  LOOP
    IF m.g <> 0 OR m.c <> 0 OR m.e <> 0 OR m.k <> 0 THEN
      INSERT INTO stats_credits_daily AS s (project_id, mode, day, shard, granted, consumed, expired, clawed_back)
      VALUES (m.project_id, m.mode, today, m.shard, m.g, m.c, m.e, m.k)
      ON CONFLICT (project_id, mode, day, shard) DO UPDATE SET granted = s.granted + excluded.granted, consumed = s.consumed + excluded.consumed,
        expired = s.expired + excluded.expired, clawed_back = s.clawed_back + excluded.clawed_back;
    END IF;
    IF m.o <> 0 THEN
      INSERT INTO stats_credits_current AS s (project_id, mode, shard, outstanding) VALUES (m.project_id, m.mode, m.shard, m.o)
      ON CONFLICT (project_id, mode, shard) DO UPDATE SET outstanding = s.outstanding + excluded.outstanding;
    END IF;
  END LOOP;
END
$$;
--> statement-breakpoint

-- Every change of a wallet ends here, so its entries are counted here: those after the seq it had when
-- it was last saved. Within a consume batch (credits.count_later on) the batch counts them at its end.
CREATE OR REPLACE FUNCTION credits_save(w credit_wallets) RETURNS void LANGUAGE plpgsql AS $$
DECLARE counted bigint;
BEGIN
  SELECT seq INTO counted FROM credit_wallets WHERE id = w.id;
  UPDATE credit_wallets SET monthly = w.monthly, purchased = w.purchased, bonus = w.bonus, reserved = w.reserved, debt = w.debt,
    seq = w.seq, next_reset_at = w.next_reset_at, updated_at = now()
  WHERE id = w.id;
  IF w.seq > counted AND current_setting('credits.count_later', true) IS DISTINCT FROM 'on' THEN
    PERFORM credits_count(ARRAY[w.id], ARRAY[counted]);
  END IF;
END
$$;
--> statement-breakpoint

-- As in 0019, with the stats counted once for the whole batch: the seq of every wallet is read as it is
-- locked, the consumes run with counting put off, and then one pass counts what they wrote.
CREATE OR REPLACE FUNCTION credits_consume_batch(p_items jsonb) RETURNS jsonb LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE c record; wallets uuid[]; seqs bigint[]; answers jsonb[] := array_fill(NULL::jsonb, ARRAY[jsonb_array_length(p_items)]);
BEGIN
  -- Each wallet is found by its unique key (one index probe per item, whatever the planner thinks of
  -- the JSON's row count), then all are locked in one statement, which reads their seqs.
  SELECT array_agg(DISTINCT x.id) INTO wallets FROM (
    SELECT (SELECT w.id FROM credit_wallets w WHERE w.project_id = i.project_id AND w.mode = i.mode AND w.end_user_id = i.end_user_id) AS id
    FROM jsonb_to_recordset(p_items) AS i(project_id uuid, mode text, end_user_id text)) x
  WHERE x.id IS NOT NULL;
  SELECT array_agg(l.id ORDER BY l.id), array_agg(l.seq ORDER BY l.id) INTO wallets, seqs
  FROM (SELECT id, seq FROM credit_wallets WHERE id = ANY(wallets) ORDER BY id FOR UPDATE) l;
  PERFORM set_config('credits.count_later', 'on', true);
  FOR c IN SELECT i.* FROM ROWS FROM (jsonb_to_recordset(p_items) AS (project_id uuid, mode text, end_user_id text, amount bigint, key text, fingerprint text, description text, metadata jsonb))
      WITH ORDINALITY AS i(project_id, mode, end_user_id, amount, key, fingerprint, description, metadata, n)
    ORDER BY i.project_id, i.mode, i.end_user_id, i.n
  LOOP
    answers[c.n] := credits_consume(c.project_id, c.mode, c.end_user_id, c.amount, c.key, c.fingerprint, c.description, c.metadata);
  END LOOP;
  PERFORM set_config('credits.count_later', 'off', true);
  IF wallets IS NOT NULL THEN PERFORM credits_count(wallets, seqs); END IF;
  RETURN to_jsonb(answers);
END
$$;
