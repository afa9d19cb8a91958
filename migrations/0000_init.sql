CREATE TABLE "customers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"end_user_id" varchar(128) NOT NULL,
	"stripe_customer_id" varchar(255),
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "customers_mode_ck" CHECK ("customers"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"developer_id" varchar(128) NOT NULL,
	"name" varchar(200) NOT NULL,
	"end_user_secret" text NOT NULL,
	"end_user_secret_version" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stats_daily" (
	"developer_id" varchar(128) NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"day" date NOT NULL,
	"currency" varchar(3) NOT NULL,
	"shard" smallint DEFAULT 0 NOT NULL,
	"gross" bigint DEFAULT 0 NOT NULL,
	"refunded" bigint DEFAULT 0 NOT NULL,
	"succeeded_count" integer DEFAULT 0 NOT NULL,
	"failed_count" integer DEFAULT 0 NOT NULL,
	"new_subscriptions" integer DEFAULT 0 NOT NULL,
	"canceled_subscriptions" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "stats_daily_developer_id_project_id_mode_day_currency_shard_pk" PRIMARY KEY("developer_id","project_id","mode","day","currency","shard"),
	CONSTRAINT "stats_daily_mode_ck" CHECK ("stats_daily"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "stats_subscriptions" (
	"developer_id" varchar(128) NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"currency" varchar(3) NOT NULL,
	"shard" smallint DEFAULT 0 NOT NULL,
	"active" integer DEFAULT 0 NOT NULL,
	"trialing" integer DEFAULT 0 NOT NULL,
	"past_due" integer DEFAULT 0 NOT NULL,
	"canceled" integer DEFAULT 0 NOT NULL,
	"incomplete" integer DEFAULT 0 NOT NULL,
	"unpaid" integer DEFAULT 0 NOT NULL,
	"paused" integer DEFAULT 0 NOT NULL,
	"mrr" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "stats_subscriptions_developer_id_project_id_mode_currency_shard_pk" PRIMARY KEY("developer_id","project_id","mode","currency","shard"),
	CONSTRAINT "stats_subscriptions_mode_ck" CHECK ("stats_subscriptions"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "stripe_configs" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"secret_key" text NOT NULL,
	"secret_key_hint" varchar(64) NOT NULL,
	"publishable_key" varchar(255) NOT NULL,
	"webhook_secret" text,
	"webhook_endpoint_id" varchar(255),
	"webhook_endpoint_url" text,
	"managed_webhook_secret" text,
	"active" boolean DEFAULT true NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"stripe_account_id" varchar(255),
	"livemode" boolean,
	"validated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stripe_configs_project_id_mode_pk" PRIMARY KEY("project_id","mode"),
	CONSTRAINT "stripe_configs_mode_ck" CHECK ("stripe_configs"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "subscriptions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"developer_id" varchar(128) NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"end_user_id" varchar(128),
	"stripe_customer_id" varchar(255) NOT NULL,
	"stripe_subscription_id" varchar(255) NOT NULL,
	"status" varchar(32) NOT NULL,
	"price_id" varchar(255),
	"product_id" varchar(255),
	"quantity" integer DEFAULT 1 NOT NULL,
	"amount" bigint,
	"currency" varchar(3),
	"interval" varchar(8),
	"interval_count" integer,
	"current_period_start" timestamp with time zone,
	"current_period_end" timestamp with time zone,
	"trial_end" timestamp with time zone,
	"cancel_at_period_end" boolean DEFAULT false NOT NULL,
	"canceled_at" timestamp with time zone,
	"last_event_at" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "subscriptions_mode_ck" CHECK ("subscriptions"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "transactions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"developer_id" varchar(128) NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"end_user_id" varchar(128),
	"kind" varchar(16) NOT NULL,
	"status" varchar(24) NOT NULL,
	"amount" bigint NOT NULL,
	"amount_refunded" bigint DEFAULT 0 NOT NULL,
	"currency" varchar(3) NOT NULL,
	"description" varchar(1000),
	"stripe_customer_id" varchar(255),
	"stripe_checkout_session_id" varchar(255),
	"stripe_payment_intent_id" varchar(255),
	"stripe_invoice_id" varchar(255),
	"stripe_charge_id" varchar(255),
	"stripe_subscription_id" varchar(255),
	"last_event_at" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"succeeded_at" timestamp with time zone,
	"refunded_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "transactions_mode_ck" CHECK ("transactions"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "webhook_events" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"id" varchar(255) NOT NULL,
	"type" varchar(128) NOT NULL,
	"status" varchar(16) NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"error" varchar(2000),
	"event_created" bigint NOT NULL,
	"payload" jsonb,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone,
	CONSTRAINT "webhook_events_project_id_mode_id_pk" PRIMARY KEY("project_id","mode","id"),
	CONSTRAINT "webhook_events_mode_ck" CHECK ("webhook_events"."mode" in ('test', 'live'))
);
--> statement-breakpoint
ALTER TABLE "customers" ADD CONSTRAINT "customers_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stats_daily" ADD CONSTRAINT "stats_daily_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stats_subscriptions" ADD CONSTRAINT "stats_subscriptions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stripe_configs" ADD CONSTRAINT "stripe_configs_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "subscriptions" ADD CONSTRAINT "subscriptions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "transactions" ADD CONSTRAINT "transactions_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_events" ADD CONSTRAINT "webhook_events_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "customers_end_user_uq" ON "customers" USING btree ("project_id","mode","end_user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "customers_stripe_uq" ON "customers" USING btree ("project_id","mode","stripe_customer_id");--> statement-breakpoint
CREATE INDEX "projects_developer_created_idx" ON "projects" USING btree ("developer_id","created_at","id");--> statement-breakpoint
CREATE INDEX "stats_daily_developer_day_idx" ON "stats_daily" USING btree ("developer_id","mode","day");--> statement-breakpoint
CREATE UNIQUE INDEX "subscriptions_stripe_uq" ON "subscriptions" USING btree ("project_id","mode","stripe_subscription_id");--> statement-breakpoint
CREATE INDEX "subscriptions_developer_created_idx" ON "subscriptions" USING btree ("developer_id","mode","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_project_created_idx" ON "subscriptions" USING btree ("project_id","mode","created_at","id");--> statement-breakpoint
CREATE INDEX "subscriptions_end_user_idx" ON "subscriptions" USING btree ("project_id","mode","end_user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_payment_intent_uq" ON "transactions" USING btree ("project_id","mode","stripe_payment_intent_id") WHERE stripe_payment_intent_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_invoice_uq" ON "transactions" USING btree ("project_id","mode","stripe_invoice_id") WHERE stripe_invoice_id is not null;--> statement-breakpoint
CREATE UNIQUE INDEX "transactions_checkout_session_uq" ON "transactions" USING btree ("project_id","mode","stripe_checkout_session_id") WHERE stripe_checkout_session_id is not null;--> statement-breakpoint
CREATE INDEX "transactions_developer_created_idx" ON "transactions" USING btree ("developer_id","mode","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_project_created_idx" ON "transactions" USING btree ("project_id","mode","created_at","id");--> statement-breakpoint
CREATE INDEX "transactions_end_user_idx" ON "transactions" USING btree ("project_id","mode","end_user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "webhook_events_project_received_idx" ON "webhook_events" USING btree ("project_id","mode","received_at","id");