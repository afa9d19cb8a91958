ALTER TABLE "credit_packages" ADD COLUMN "price_active" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_packages" ADD COLUMN "price_synced_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_packages" ADD COLUMN "product_synced_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_plans" ADD COLUMN "price_active" boolean DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_plans" ADD COLUMN "price_synced_at" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "credit_plans" ADD COLUMN "product_synced_at" bigint DEFAULT 0 NOT NULL;