-- The credits engine's queries are all index lookups and ranges of one wallet. A connection caches a
-- PL/pgSQL function's plans (and the service's prepared reads) once made; made while the credit tables
-- were empty or small (a new deployment, before the first ANALYZE: this machine's PostgreSQL runs with
-- autovacuum off), they scanned whole tables ever after: ingest with credit grants fell to a quarter
-- (bench:ingest, 703 M lot rows read sequentially in one run). Every entry point of the engine plans
-- with sequential scans off, so its plans use the indexes whatever the statistics say, and the reads
-- go through functions too. A query that has no index to use still runs (off only makes a scan the
-- last choice).
ALTER FUNCTION credits_apply(jsonb) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_grant(uuid, text, text, text, text, bigint, text, timestamptz, timestamptz, bigint, boolean, timestamptz, text, text, boolean) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_consume(uuid, text, text, bigint, text, text, text, jsonb) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_reserve(uuid, text, text, bigint, int, text, text) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_settle(uuid, text, uuid, boolean, bigint) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_adjust(uuid, text, text, bigint, text, text, text, text) SET enable_seqscan = off;
--> statement-breakpoint
ALTER FUNCTION credits_sweep(int) SET enable_seqscan = off;
--> statement-breakpoint

-- The balance view of an end user's wallet (an empty one when there is none), read, never summed.
CREATE FUNCTION credits_balance_of(p_project uuid, p_mode text, p_end_user text) RETURNS jsonb LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
DECLARE w credit_wallets;
BEGIN
  SELECT * INTO w FROM credit_wallets WHERE project_id = p_project AND mode = p_mode AND end_user_id = p_end_user;
  IF NOT FOUND THEN RETURN credits_empty_balance(p_end_user); END IF;
  RETURN credits_balance_due(w);
END
$$;
--> statement-breakpoint

-- One page of a wallet's ledger, newest first, below p_before: an index range of (wallet, seq), or of
-- (wallet, kind, seq) with a kind (two queries: one with an optional kind could use neither).
CREATE FUNCTION credits_ledger_page(p_project uuid, p_mode text, p_end_user text, p_limit int, p_before bigint, p_kind text)
RETURNS SETOF credit_ledger LANGUAGE plpgsql STABLE SET enable_seqscan = off AS $$
DECLARE w uuid;
BEGIN
  SELECT id INTO w FROM credit_wallets WHERE project_id = p_project AND mode = p_mode AND end_user_id = p_end_user;
  IF w IS NULL THEN RETURN; END IF;
  IF p_kind IS NULL THEN
    RETURN QUERY SELECT * FROM credit_ledger l WHERE l.wallet_id = w AND l.seq < coalesce(p_before, 9223372036854775807) ORDER BY l.seq DESC LIMIT p_limit;
  ELSE
    RETURN QUERY SELECT * FROM credit_ledger l WHERE l.wallet_id = w AND l.kind = p_kind AND l.seq < coalesce(p_before, 9223372036854775807) ORDER BY l.seq DESC LIMIT p_limit;
  END IF;
END
$$;
