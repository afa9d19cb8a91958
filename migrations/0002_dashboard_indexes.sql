CREATE INDEX "subscriptions_developer_status_created_idx" ON "subscriptions" USING btree ("developer_id","mode","status","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_project_status_created_idx" ON "subscriptions" USING btree ("project_id","mode","status","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_developer_customer_created_idx" ON "subscriptions" USING btree ("developer_id","mode","stripe_customer_id","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_developer_end_user_created_idx" ON "subscriptions" USING btree ("developer_id","mode","end_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_project_customer_created_idx" ON "subscriptions" USING btree ("project_id","mode","stripe_customer_id","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_project_end_user_created_idx" ON "subscriptions" USING btree ("project_id","mode","end_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_developer_status_created_idx" ON "transactions" USING btree ("developer_id","mode","status","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_project_status_created_idx" ON "transactions" USING btree ("project_id","mode","status","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_developer_customer_created_idx" ON "transactions" USING btree ("developer_id","mode","stripe_customer_id","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_developer_end_user_created_idx" ON "transactions" USING btree ("developer_id","mode","end_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_project_customer_created_idx" ON "transactions" USING btree ("project_id","mode","stripe_customer_id","created_at","id");