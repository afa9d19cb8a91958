-- As in 0018, with the wallet locked when its next reset is read: read before the lock, a change of
-- the wallet committed in between (another period's grant) could be undone when the subscription's
-- end, delivered first, puts the next reset back as the end left it.
CREATE OR REPLACE FUNCTION credits_plan_grant(op jsonb, p_trial boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE pl credit_plans; who text := credits_end_user(op); amount bigint; lot uuid; w credit_wallets; reset_at timestamptz;
BEGIN
  IF who IS NULL THEN RETURN; END IF;
  SELECT * INTO pl FROM credit_plans WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND price_id = op->>'price';
  IF NOT FOUND THEN RETURN; END IF;
  amount := CASE WHEN p_trial THEN pl.trial_credits ELSE pl.credits_per_period END * greatest(coalesce((op->>'quantity')::bigint, 1), 1);
  SELECT next_reset_at INTO reset_at FROM credit_wallets WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND end_user_id = who FOR UPDATE;
  lot := credits_grant((op->>'project')::uuid, op->>'mode', who, 'monthly', 'grant', amount, op->>'source', NULL,
    (op->>'period_start')::timestamptz, (op->>'paid')::bigint, NOT pl.rollover, (op->>'period_end')::timestamptz,
    coalesce(pl.name, pl.product_name, pl.price_id) || CASE WHEN p_trial THEN ' (trial)' WHEN op->>'description' IS NOT NULL THEN ' (' || (op->>'description') || ')' ELSE '' END,
    op->>'payment_intent', NOT p_trial);
  IF lot IS NOT NULL AND EXISTS (SELECT 1 FROM credit_ended_subscriptions
      WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND subscription_id = op->>'subscription') THEN
    -- The subscription's end arrived first: what the end would have done to this grant, done now
    -- (the rest of the lot, after the debt it paid and a refund that came first, expires; the next
    -- reset stays as the end left it).
    w := credits_wallet((op->>'project')::uuid, op->>'mode', who, false);
    SELECT remaining INTO amount FROM credit_lots WHERE id = lot FOR UPDATE;
    IF amount > 0 THEN
      UPDATE credit_lots SET remaining = 0, closed_at = now() WHERE id = lot;
      w := credits_entry(w, 'expire', 'monthly', -amount, 0, 0, lot, 'subscription:' || (op->>'subscription'), 'subscription ended');
    END IF;
    w.next_reset_at := reset_at;
    PERFORM credits_save(w);
  END IF;
END
$$;
