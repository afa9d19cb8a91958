CREATE TABLE "credit_ended_subscriptions" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"subscription_id" varchar(255) NOT NULL,
	"ended_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_ended_subscriptions_project_id_mode_subscription_id_pk" PRIMARY KEY("project_id","mode","subscription_id"),
	CONSTRAINT "credit_ended_subscriptions_mode_ck" CHECK ("credit_ended_subscriptions"."mode" in ('test', 'live'))
);
--> statement-breakpoint
ALTER TABLE "credit_ended_subscriptions" ADD CONSTRAINT "credit_ended_subscriptions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- (Hand-written below.) A subscription's end and its grants in any order: customer.subscription.deleted
-- expires the monthly credits it finds, and a grant of that subscription delivered after the end (a
-- late invoice.paid, a trial's or a plan change's update, names op->>'subscription') is expired at once,
-- so the end user keeps no credits of an ended subscription whichever arrives first. The end itself
-- applies once per subscription (delivered again, it expired what was granted since). Otherwise as in
-- 0012 (credits_plan_grant) and 0010 (credits_apply).
CREATE OR REPLACE FUNCTION credits_plan_grant(op jsonb, p_trial boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE pl credit_plans; who text := credits_end_user(op); amount bigint; lot uuid; w credit_wallets; reset_at timestamptz;
BEGIN
  IF who IS NULL THEN RETURN; END IF;
  SELECT * INTO pl FROM credit_plans WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND price_id = op->>'price';
  IF NOT FOUND THEN RETURN; END IF;
  amount := CASE WHEN p_trial THEN pl.trial_credits ELSE pl.credits_per_period END * greatest(coalesce((op->>'quantity')::bigint, 1), 1);
  SELECT next_reset_at INTO reset_at FROM credit_wallets WHERE project_id = (op->>'project')::uuid AND mode = op->>'mode' AND end_user_id = who;
  lot := credits_grant((op->>'project')::uuid, op->>'mode', who, 'monthly', 'grant', amount, op->>'source', NULL,
    (op->>'period_start')::timestamptz, (op->>'paid')::bigint, NOT p_trial AND NOT pl.rollover, (op->>'period_end')::timestamptz,
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
--> statement-breakpoint
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
    IF op->>'subscription' IS NOT NULL THEN
      INSERT INTO credit_ended_subscriptions (project_id, mode, subscription_id) VALUES ((op->>'project')::uuid, op->>'mode', op->>'subscription') ON CONFLICT DO NOTHING;
      -- Once per subscription: delivered again, the end must not expire what was granted since.
      IF NOT FOUND THEN RETURN true; END IF;
    END IF;
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
