CREATE TABLE "stripe_syncs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"status" varchar(16) NOT NULL,
	"since" bigint NOT NULL,
	"full" boolean NOT NULL,
	"cursor" text NOT NULL,
	"events_listed" integer DEFAULT 0 NOT NULL,
	"events_applied" integer DEFAULT 0 NOT NULL,
	"events_skipped" integer DEFAULT 0 NOT NULL,
	"events_failed" integer DEFAULT 0 NOT NULL,
	"failed_deliveries_replayed" integer DEFAULT 0 NOT NULL,
	"objects_applied" integer DEFAULT 0 NOT NULL,
	"stripe_reads" integer DEFAULT 0 NOT NULL,
	"rate_limited" integer DEFAULT 0 NOT NULL,
	"error" varchar(500),
	"owner" varchar(64),
	"heartbeat_at" timestamp with time zone,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stripe_syncs_mode_ck" CHECK ("stripe_syncs"."mode" in ('test', 'live')),
	CONSTRAINT "stripe_syncs_status_ck" CHECK ("stripe_syncs"."status" in ('running', 'interrupted', 'succeeded', 'failed'))
);
--> statement-breakpoint
ALTER TABLE "stripe_syncs" ADD CONSTRAINT "stripe_syncs_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "stripe_syncs_unfinished_uq" ON "stripe_syncs" USING btree ("project_id","mode") WHERE status in ('running', 'interrupted');--> statement-breakpoint
CREATE INDEX "stripe_syncs_project_created_idx" ON "stripe_syncs" USING btree ("project_id","mode","created_at");