CREATE TABLE "stats_credits_current" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"shard" smallint NOT NULL,
	"outstanding" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "stats_credits_current_project_id_mode_shard_pk" PRIMARY KEY("project_id","mode","shard"),
	CONSTRAINT "stats_credits_current_mode_ck" CHECK ("stats_credits_current"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "stats_credits_daily" (
	"project_id" uuid NOT NULL,
	"mode" varchar(4) NOT NULL,
	"day" date NOT NULL,
	"shard" smallint NOT NULL,
	"granted" bigint DEFAULT 0 NOT NULL,
	"consumed" bigint DEFAULT 0 NOT NULL,
	"expired" bigint DEFAULT 0 NOT NULL,
	"clawed_back" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "stats_credits_daily_project_id_mode_day_shard_pk" PRIMARY KEY("project_id","mode","day","shard"),
	CONSTRAINT "stats_credits_daily_mode_ck" CHECK ("stats_credits_daily"."mode" in ('test', 'live'))
);
--> statement-breakpoint
ALTER TABLE "stats_credits_current" ADD CONSTRAINT "stats_credits_current_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stats_credits_daily" ADD CONSTRAINT "stats_credits_daily_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
-- (Hand-written below.) Every entry that moves a bucket also moves the credit stats, in the same
-- statement: what was granted, consumed, expired (and reset) or clawed back that UTC day, and what is
-- still outstanding. The shard follows the wallet, so one wallet's entries always land on one row.
CREATE OR REPLACE FUNCTION credits_entry(
  INOUT w credit_wallets, p_kind text, p_bucket text, p_amount bigint, p_reserved bigint, p_debt bigint,
  p_lot uuid, p_source text, p_description text
) LANGUAGE plpgsql AS $$
DECLARE sh smallint; g bigint := 0; c bigint := 0; e bigint := 0; k bigint := 0;
BEGIN
  IF p_bucket = 'monthly' THEN w.monthly := w.monthly + p_amount;
  ELSIF p_bucket = 'purchased' THEN w.purchased := w.purchased + p_amount;
  ELSIF p_bucket = 'bonus' THEN w.bonus := w.bonus + p_amount;
  END IF;
  w.reserved := w.reserved + p_reserved;
  w.debt := w.debt + p_debt;
  w.seq := w.seq + 1;
  INSERT INTO credit_ledger (wallet_id, seq, kind, bucket, amount, monthly_after, purchased_after, bonus_after, reserved_after, debt_after, lot_id, source, description)
  VALUES (w.id, w.seq, p_kind, p_bucket, CASE WHEN p_bucket IS NULL THEN p_reserved + p_debt ELSE p_amount END,
    w.monthly, w.purchased, w.bonus, w.reserved, w.debt, p_lot, p_source, left(p_description, 500));
  IF p_bucket IS NOT NULL AND p_amount <> 0 THEN
    sh := abs(hashtext(w.id::text)) % 8;
    IF p_kind IN ('grant', 'referral_bonus') OR (p_kind = 'adjustment' AND p_amount > 0) THEN g := p_amount;
    ELSIF p_kind = 'consume' OR (p_kind = 'adjustment' AND p_amount < 0) THEN c := -p_amount;
    ELSIF p_kind IN ('expire', 'reset') THEN e := -p_amount;
    ELSIF p_kind = 'clawback' THEN k := -p_amount;
    END IF;
    IF g <> 0 OR c <> 0 OR e <> 0 OR k <> 0 THEN
      INSERT INTO stats_credits_daily AS s (project_id, mode, day, shard, granted, consumed, expired, clawed_back)
      VALUES (w.project_id, w.mode, (now() AT TIME ZONE 'UTC')::date, sh, g, c, e, k)
      ON CONFLICT (project_id, mode, day, shard) DO UPDATE SET granted = s.granted + excluded.granted, consumed = s.consumed + excluded.consumed,
        expired = s.expired + excluded.expired, clawed_back = s.clawed_back + excluded.clawed_back;
    END IF;
    INSERT INTO stats_credits_current AS s (project_id, mode, shard, outstanding) VALUES (w.project_id, w.mode, sh, p_amount)
    ON CONFLICT (project_id, mode, shard) DO UPDATE SET outstanding = s.outstanding + excluded.outstanding;
  END IF;
END
$$;
