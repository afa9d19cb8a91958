ALTER TABLE "subscriptions" ADD COLUMN "ended_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "stripe_created_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "transactions" ADD COLUMN "failed_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "transactions_charge_idx" ON "transactions" USING btree ("project_id","mode","stripe_charge_id") WHERE stripe_charge_id is not null;--> statement-breakpoint
CREATE INDEX "webhook_events_project_status_idx" ON "webhook_events" USING btree ("project_id","mode","status","received_at","id");