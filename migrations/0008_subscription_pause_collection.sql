ALTER TABLE "subscriptions" ADD COLUMN "pause_collection" varchar(32);--> statement-breakpoint
ALTER TABLE "subscriptions" ADD COLUMN "pause_resumes_at" timestamp with time zone;