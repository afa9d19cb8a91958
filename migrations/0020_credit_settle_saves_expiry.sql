-- A commit of more than the reservation (422) answered after closing what was due (expired lots,
-- reservations past their TTL) without saving the wallet: the `expire` and `release` entries stayed in
-- the ledger while the wallet kept the balances and seq before them, so the wallet's next change
-- collided on (wallet_id, seq) and failed until the cache was rewritten (credits:recompute). The 422
-- now saves the wallet like every other answer. Otherwise as in 0013; enable_seqscan stays off as
-- 0017 set it (CREATE OR REPLACE resets a function's settings).
CREATE OR REPLACE FUNCTION credits_settle(p_project uuid, p_mode text, p_reservation uuid, p_commit boolean, p_amount bigint)
RETURNS jsonb LANGUAGE plpgsql SET enable_seqscan = off AS $$
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
  IF spend > r.amount THEN
    PERFORM credits_save(w);
    RETURN jsonb_build_object('status', 422, 'code', 'amount_exceeds_reservation', 'reserved', r.amount);
  END IF;
  w := credits_entry(w, 'release', NULL, 0, -r.amount, 0, NULL, 'reservation:' || r.id, CASE WHEN p_commit THEN 'committed' ELSE 'released' END);
  IF spend > 0 THEN
    SELECT * INTO res FROM credits_take(w, spend, 'consume', ARRAY['monthly', 'purchased', 'bonus'], 'reservation:' || r.id, 'reservation committed'); w := res.w; rest := res.p_amount;
    IF rest > 0 THEN
      w := credits_entry(w, 'debt', NULL, 0, 0, rest, NULL, 'reservation:' || r.id, 'committed credits taken from the wallet since they were reserved');
    END IF;
  END IF;
  UPDATE credit_reservations SET status = CASE WHEN p_commit THEN 'committed' ELSE 'released' END, settled_at = now() WHERE id = r.id;
  PERFORM credits_save(w);
  RETURN jsonb_build_object('status', 200, 'body', jsonb_build_object('id', r.id, 'end_user_id', w.end_user_id, 'amount', r.amount, 'committed', spend,
    'status', CASE WHEN p_commit THEN 'committed' ELSE 'released' END, 'balance', credits_balance(w)));
END
$$;
