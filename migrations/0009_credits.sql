CREATE TABLE "credit_ledger" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"wallet_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"kind" varchar(16) NOT NULL,
	"bucket" varchar(16),
	"amount" bigint NOT NULL,
	"monthly_after" bigint NOT NULL,
	"purchased_after" bigint NOT NULL,
	"bonus_after" bigint NOT NULL,
	"reserved_after" bigint NOT NULL,
	"debt_after" bigint NOT NULL,
	"lot_id" uuid,
	"source" varchar(300),
	"description" varchar(500),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_ledger_kind_ck" CHECK ("credit_ledger"."kind" in ('grant', 'consume', 'reserve', 'release', 'expire', 'reset', 'clawback', 'debt', 'adjustment', 'referral_bonus'))
);
--> statement-breakpoint
CREATE TABLE "credit_lots" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"wallet_id" uuid NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"bucket" varchar(16) NOT NULL,
	"granted" bigint NOT NULL,
	"remaining" bigint NOT NULL,
	"taken_back" bigint DEFAULT 0 NOT NULL,
	"paid_amount" bigint,
	"stripe_payment_intent_id" varchar(255),
	"period_start" timestamp with time zone,
	"expires_at" timestamp with time zone,
	"source" varchar(300) NOT NULL,
	"closed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_lots_mode_ck" CHECK ("credit_lots"."mode" in ('test', 'live')),
	CONSTRAINT "credit_lots_bucket_ck" CHECK ("credit_lots"."bucket" in ('monthly', 'purchased', 'bonus')),
	CONSTRAINT "credit_lots_remaining_ck" CHECK ("credit_lots"."remaining" >= 0 and "credit_lots"."remaining" <= "credit_lots"."granted")
);
--> statement-breakpoint
CREATE TABLE "credit_packages" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"price_id" varchar(255) NOT NULL,
	"product_id" varchar(255) NOT NULL,
	"name" varchar(200),
	"credits" bigint NOT NULL,
	"expires_in_days" integer,
	"unit_amount" bigint,
	"currency" varchar(3) NOT NULL,
	"product_name" varchar(255),
	"price_active" boolean DEFAULT true NOT NULL,
	"price_synced_at" bigint DEFAULT 0 NOT NULL,
	"product_synced_at" bigint DEFAULT 0 NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_packages_project_id_mode_price_id_pk" PRIMARY KEY("project_id","mode","price_id"),
	CONSTRAINT "credit_packages_mode_ck" CHECK ("credit_packages"."mode" in ('test', 'live')),
	CONSTRAINT "credit_packages_credits_ck" CHECK ("credit_packages"."credits" > 0)
);
--> statement-breakpoint
CREATE TABLE "credit_pending_refunds" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"source" varchar(300) NOT NULL,
	"refunded" bigint NOT NULL,
	"paid" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_pending_refunds_project_id_mode_source_pk" PRIMARY KEY("project_id","mode","source"),
	CONSTRAINT "credit_pending_refunds_mode_ck" CHECK ("credit_pending_refunds"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "credit_plans" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"price_id" varchar(255) NOT NULL,
	"product_id" varchar(255) NOT NULL,
	"name" varchar(200),
	"credits_per_period" bigint NOT NULL,
	"trial_credits" bigint DEFAULT 0 NOT NULL,
	"rollover" boolean DEFAULT false NOT NULL,
	"unit_amount" bigint,
	"currency" varchar(3) NOT NULL,
	"interval" varchar(16) NOT NULL,
	"interval_count" integer DEFAULT 1 NOT NULL,
	"trial_period_days" integer,
	"product_name" varchar(255),
	"price_active" boolean DEFAULT true NOT NULL,
	"price_synced_at" bigint DEFAULT 0 NOT NULL,
	"product_synced_at" bigint DEFAULT 0 NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_plans_project_id_mode_price_id_pk" PRIMARY KEY("project_id","mode","price_id"),
	CONSTRAINT "credit_plans_mode_ck" CHECK ("credit_plans"."mode" in ('test', 'live')),
	CONSTRAINT "credit_plans_credits_ck" CHECK ("credit_plans"."credits_per_period" > 0 and "credit_plans"."trial_credits" >= 0)
);
--> statement-breakpoint
CREATE TABLE "credit_requests" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"key" varchar(255) NOT NULL,
	"fingerprint" varchar(64) NOT NULL,
	"status" smallint NOT NULL,
	"response" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_requests_project_id_mode_key_pk" PRIMARY KEY("project_id","mode","key"),
	CONSTRAINT "credit_requests_mode_ck" CHECK ("credit_requests"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "credit_reservations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"wallet_id" uuid NOT NULL,
	"amount" bigint NOT NULL,
	"status" varchar(16) DEFAULT 'held' NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"settled_at" timestamp with time zone,
	CONSTRAINT "credit_reservations_amount_ck" CHECK ("credit_reservations"."amount" > 0)
);
--> statement-breakpoint
CREATE TABLE "credit_top_ups" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"currency" varchar(3) NOT NULL,
	"credits_per_unit" integer NOT NULL,
	"min_amount" bigint NOT NULL,
	"max_amount" bigint NOT NULL,
	"expires_in_days" integer,
	"active" boolean DEFAULT true NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_top_ups_project_id_mode_pk" PRIMARY KEY("project_id","mode"),
	CONSTRAINT "credit_top_ups_mode_ck" CHECK ("credit_top_ups"."mode" in ('test', 'live')),
	CONSTRAINT "credit_top_ups_bounds_ck" CHECK ("credit_top_ups"."credits_per_unit" > 0 and "credit_top_ups"."min_amount" > 0 and "credit_top_ups"."max_amount" >= "credit_top_ups"."min_amount")
);
--> statement-breakpoint
CREATE TABLE "credit_wallets" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"end_user_id" varchar(128) NOT NULL,
	"monthly" bigint DEFAULT 0 NOT NULL,
	"purchased" bigint DEFAULT 0 NOT NULL,
	"bonus" bigint DEFAULT 0 NOT NULL,
	"reserved" bigint DEFAULT 0 NOT NULL,
	"debt" bigint DEFAULT 0 NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL,
	"next_reset_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "credit_wallets_mode_ck" CHECK ("credit_wallets"."mode" in ('test', 'live')),
	CONSTRAINT "credit_wallets_nonnegative_ck" CHECK ("credit_wallets"."monthly" >= 0 and "credit_wallets"."purchased" >= 0 and "credit_wallets"."bonus" >= 0 and "credit_wallets"."reserved" >= 0 and "credit_wallets"."debt" >= 0)
);
--> statement-breakpoint
CREATE TABLE "project_api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"name" varchar(200) NOT NULL,
	"prefix" varchar(32) NOT NULL,
	"hash" varchar(64) NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "project_api_keys_mode_ck" CHECK ("project_api_keys"."mode" in ('test', 'live'))
);
--> statement-breakpoint
ALTER TABLE "credit_ledger" ADD CONSTRAINT "credit_ledger_wallet_id_credit_wallets_id_fk" FOREIGN KEY ("wallet_id") REFERENCES "credit_wallets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_lots" ADD CONSTRAINT "credit_lots_wallet_id_credit_wallets_id_fk" FOREIGN KEY ("wallet_id") REFERENCES "credit_wallets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_packages" ADD CONSTRAINT "credit_packages_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_pending_refunds" ADD CONSTRAINT "credit_pending_refunds_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_plans" ADD CONSTRAINT "credit_plans_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_requests" ADD CONSTRAINT "credit_requests_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_reservations" ADD CONSTRAINT "credit_reservations_wallet_id_credit_wallets_id_fk" FOREIGN KEY ("wallet_id") REFERENCES "credit_wallets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_top_ups" ADD CONSTRAINT "credit_top_ups_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credit_wallets" ADD CONSTRAINT "credit_wallets_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_api_keys" ADD CONSTRAINT "project_api_keys_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "credit_ledger_wallet_seq_uq" ON "credit_ledger" USING btree ("wallet_id","seq");--> statement-breakpoint
CREATE INDEX "credit_ledger_wallet_kind_seq_idx" ON "credit_ledger" USING btree ("wallet_id","kind","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "credit_lots_source_uq" ON "credit_lots" USING btree ("project_id","mode","source");--> statement-breakpoint
CREATE INDEX "credit_lots_payment_intent_idx" ON "credit_lots" USING btree ("project_id","mode","stripe_payment_intent_id") WHERE stripe_payment_intent_id is not null;--> statement-breakpoint
CREATE INDEX "credit_lots_open_idx" ON "credit_lots" USING btree ("wallet_id","expires_at") WHERE remaining > 0;--> statement-breakpoint
CREATE INDEX "credit_lots_expiry_idx" ON "credit_lots" USING btree ("expires_at") WHERE remaining > 0 and expires_at is not null;--> statement-breakpoint
CREATE INDEX "credit_reservations_held_idx" ON "credit_reservations" USING btree ("wallet_id","expires_at") WHERE status = 'held';--> statement-breakpoint
CREATE UNIQUE INDEX "credit_wallets_end_user_uq" ON "credit_wallets" USING btree ("project_id","mode","end_user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "project_api_keys_hash_uq" ON "project_api_keys" USING btree ("hash");--> statement-breakpoint
CREATE INDEX "project_api_keys_project_idx" ON "project_api_keys" USING btree ("project_id","mode","created_at");