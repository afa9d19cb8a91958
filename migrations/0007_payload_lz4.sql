-- Webhook payloads (a few KB of JSON each, one per event) are compressed when stored. PostgreSQL's
-- default, pglz, spent about 35 µs of the server's CPU per event at ingest; lz4 about a fifth of
-- that (bench/RESULTS.md, fifth session). Only the column's setting changes: nothing is rewritten,
-- stored payloads stay as they are and read the same. A server built without lz4 (PGlite is one)
-- keeps pglz.
DO $$
BEGIN
  ALTER TABLE webhook_events ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'lz4 is not available on this server: webhook payloads stay compressed with pglz';
END
$$;
