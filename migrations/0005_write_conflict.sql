-- A batched webhook write (repositories/webhook-batch.ts) is all or nothing: when a row it was
-- computed from changed, or an event it records was recorded meanwhile, it raises
-- serialization_failure so the whole statement writes nothing and the caller reads again.
CREATE OR REPLACE FUNCTION webhook_write_conflict_unless(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT ok THEN
    RAISE EXCEPTION 'write conflict: %', what USING ERRCODE = 'serialization_failure';
  END IF;
  RETURN true;
END
$$;
