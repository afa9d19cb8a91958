-- Consumes that arrived together on one instance, in one transaction: one commit (one WAL flush)
-- for all of them, and one wait for a wallet's row lock instead of one per consume, which is what
-- bounds a busy wallet. Each item is credits_consume exactly as it runs alone and answers for itself:
-- a 402 or a 409 is a status it returns, not an error, so it leaves the others as they are. The
-- answers come back as a JSON array in the items' order.
--
-- The order of the work keeps batches from deadlocking with each other and with changes of a single
-- wallet: every wallet the items name is locked first, in id order, before any stats row is touched;
-- then the consumes run by the stats row their entries land on (project, mode and the wallet's shard,
-- as credits_entry in 0011 picks it), then by wallet, then in arrival order. So stats rows are also
-- taken in one order, and the consumes of one wallet run as they arrived: a later one with the same
-- Idempotency-Key finds the first one's answer (a replay, or 409 for another body).
CREATE OR REPLACE FUNCTION credits_consume_batch(p_items jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
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
    ORDER BY x.project_id, x.mode, abs(hashtext(x.wallet_id::text)) % 8, x.wallet_id, x.n
  LOOP
    answers[c.n] := credits_consume(c.project_id, c.mode, c.end_user_id, c.amount, c.key, c.fingerprint, c.description, c.metadata);
  END LOOP;
  RETURN to_jsonb(answers);
END
$$;
--> statement-breakpoint
-- An entry point of the engine: planned with sequential scans off, as the others (0017).
ALTER FUNCTION credits_consume_batch(jsonb) SET enable_seqscan = off;
