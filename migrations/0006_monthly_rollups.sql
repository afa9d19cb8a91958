CREATE TABLE "stats_developer_monthly" (
	"developer_id" varchar(128) NOT NULL,
	"mode" varchar(4) NOT NULL,
	"month" date NOT NULL,
	"currency" varchar(3) NOT NULL,
	"shard" smallint NOT NULL,
	"gross" bigint[] NOT NULL,
	"refunded" bigint[] NOT NULL,
	"succeeded_count" bigint[] NOT NULL,
	"failed_count" bigint[] NOT NULL,
	"new_subscriptions" bigint[] NOT NULL,
	"canceled_subscriptions" bigint[] NOT NULL,
	CONSTRAINT "stats_developer_monthly_developer_id_mode_month_currency_shard_pk" PRIMARY KEY("developer_id","mode","month","currency","shard"),
	CONSTRAINT "stats_developer_monthly_mode_ck" CHECK ("stats_developer_monthly"."mode" in ('test', 'live'))
);
--> statement-breakpoint
CREATE TABLE "stats_monthly" (
	"developer_id" varchar(128) NOT NULL,
	"mode" varchar(4) NOT NULL,
	"month" date NOT NULL,
	"project_id" uuid NOT NULL,
	"currency" varchar(3) NOT NULL,
	"shard" smallint NOT NULL,
	"gross_total" bigint NOT NULL,
	"refunded_total" bigint NOT NULL,
	"succeeded_total" bigint NOT NULL,
	"failed_total" bigint NOT NULL,
	"new_total" bigint NOT NULL,
	"canceled_total" bigint NOT NULL,
	"gross" bigint[] NOT NULL,
	"refunded" bigint[] NOT NULL,
	"succeeded_count" bigint[] NOT NULL,
	"failed_count" bigint[] NOT NULL,
	"new_subscriptions" bigint[] NOT NULL,
	"canceled_subscriptions" bigint[] NOT NULL,
	CONSTRAINT "stats_monthly_developer_id_mode_month_project_id_currency_shard_pk" PRIMARY KEY("developer_id","mode","month","project_id","currency","shard"),
	CONSTRAINT "stats_monthly_mode_ck" CHECK ("stats_monthly"."mode" in ('test', 'live'))
);
--> statement-breakpoint
-- A month row is ~1.7 kB and every stats write updates one: pages left 60 % free keep each update on
-- its page (HOT, pruned as it goes), where full pages sent updates to new pages and bloated the tables
-- and their keys, measured at 4x the update cost within seconds.
ALTER TABLE "stats_monthly" SET (fillfactor = 40);
--> statement-breakpoint
ALTER TABLE "stats_developer_monthly" SET (fillfactor = 40);
--> statement-breakpoint
-- The month rows follow stats_daily: every insert, update and delete of a stats_daily row adds its
-- difference to the month rows of the same developer, project, mode, currency and shard, in the same
-- transaction, so the service, the batched webhook write and stats:recompute all keep them exact.
CREATE OR REPLACE FUNCTION stats_rollup_add(
  dev varchar, proj uuid, md varchar, dy date, cur varchar, sh smallint,
  g bigint, r bigint, s bigint, f bigint, n bigint, c bigint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m date := date_trunc('month', dy)::date;
  d int := extract(day from dy)::int;
  z bigint[] := array_fill(0::bigint, ARRAY[31]);
  ag bigint[] := z; ar bigint[] := z; asc_ bigint[] := z; af bigint[] := z; an bigint[] := z; ac bigint[] := z;
BEGIN
  IF g = 0 AND r = 0 AND s = 0 AND f = 0 AND n = 0 AND c = 0 THEN
    RETURN;
  END IF;
  ag[d] := g; ar[d] := r; asc_[d] := s; af[d] := f; an[d] := n; ac[d] := c;
  INSERT INTO stats_monthly AS t (developer_id, mode, month, project_id, currency, shard, gross, refunded, succeeded_count, failed_count,
      new_subscriptions, canceled_subscriptions, gross_total, refunded_total, succeeded_total, failed_total, new_total, canceled_total)
    VALUES (dev, md, m, proj, cur, sh, ag, ar, asc_, af, an, ac, g, r, s, f, n, c)
    ON CONFLICT (developer_id, mode, month, project_id, currency, shard) DO UPDATE SET
      gross[d] = t.gross[d] + g, refunded[d] = t.refunded[d] + r, succeeded_count[d] = t.succeeded_count[d] + s,
      failed_count[d] = t.failed_count[d] + f, new_subscriptions[d] = t.new_subscriptions[d] + n,
      canceled_subscriptions[d] = t.canceled_subscriptions[d] + c,
      gross_total = t.gross_total + g, refunded_total = t.refunded_total + r, succeeded_total = t.succeeded_total + s, failed_total = t.failed_total + f,
      new_total = t.new_total + n, canceled_total = t.canceled_total + c;
  INSERT INTO stats_developer_monthly AS t (developer_id, mode, month, currency, shard, gross, refunded, succeeded_count, failed_count,
      new_subscriptions, canceled_subscriptions)
    VALUES (dev, md, m, cur, sh, ag, ar, asc_, af, an, ac)
    ON CONFLICT (developer_id, mode, month, currency, shard) DO UPDATE SET
      gross[d] = t.gross[d] + g, refunded[d] = t.refunded[d] + r, succeeded_count[d] = t.succeeded_count[d] + s,
      failed_count[d] = t.failed_count[d] + f, new_subscriptions[d] = t.new_subscriptions[d] + n,
      canceled_subscriptions[d] = t.canceled_subscriptions[d] + c;
END
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION stats_daily_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (OLD.developer_id, OLD.project_id, OLD.mode, OLD.day, OLD.currency, OLD.shard)
      IS NOT DISTINCT FROM (NEW.developer_id, NEW.project_id, NEW.mode, NEW.day, NEW.currency, NEW.shard) THEN
    PERFORM stats_rollup_add(NEW.developer_id, NEW.project_id, NEW.mode, NEW.day, NEW.currency, NEW.shard,
      NEW.gross - OLD.gross, NEW.refunded - OLD.refunded, NEW.succeeded_count - OLD.succeeded_count, NEW.failed_count - OLD.failed_count,
      NEW.new_subscriptions - OLD.new_subscriptions, NEW.canceled_subscriptions - OLD.canceled_subscriptions);
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM stats_rollup_add(OLD.developer_id, OLD.project_id, OLD.mode, OLD.day, OLD.currency, OLD.shard,
      -OLD.gross, -OLD.refunded, -OLD.succeeded_count, -OLD.failed_count, -OLD.new_subscriptions, -OLD.canceled_subscriptions);
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    PERFORM stats_rollup_add(NEW.developer_id, NEW.project_id, NEW.mode, NEW.day, NEW.currency, NEW.shard,
      NEW.gross, NEW.refunded, NEW.succeeded_count, NEW.failed_count, NEW.new_subscriptions, NEW.canceled_subscriptions);
  END IF;
  RETURN NULL;
END
$$;
--> statement-breakpoint
CREATE TRIGGER stats_daily_rollup AFTER INSERT OR UPDATE OR DELETE ON stats_daily
  FOR EACH ROW EXECUTE FUNCTION stats_daily_rollup();
--> statement-breakpoint
-- A month's 31 day slots from (day of month, value) pairs, summed per day.
CREATE OR REPLACE FUNCTION stats_day_array(days int[], vals bigint[]) RETURNS bigint[] LANGUAGE sql IMMUTABLE AS $$
  SELECT array_agg(coalesce(x.v, 0) ORDER BY i)
  FROM generate_series(1, 31) i
  LEFT JOIN (SELECT u.d, sum(u.v)::bigint AS v FROM unnest(days, vals) AS u(d, v) GROUP BY u.d) x ON x.d = i
$$;
--> statement-breakpoint
-- Rebuilds the month rows of one developer (or of all, given NULL) from stats_daily, one row per
-- shard: run below for existing data, and by stats:recompute when it finds them drifted.
CREATE OR REPLACE FUNCTION stats_rollup_rebuild(dev varchar) RETURNS void LANGUAGE sql AS $$
  DELETE FROM stats_monthly WHERE dev IS NULL OR developer_id = dev;
  DELETE FROM stats_developer_monthly WHERE dev IS NULL OR developer_id = dev;
  INSERT INTO stats_monthly (developer_id, mode, month, project_id, currency, shard, gross, refunded, succeeded_count, failed_count,
      new_subscriptions, canceled_subscriptions, gross_total, refunded_total, succeeded_total, failed_total, new_total, canceled_total)
    SELECT developer_id, mode, date_trunc('month', day)::date, project_id, currency, shard,
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(gross ORDER BY day)),
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(refunded ORDER BY day)),
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(succeeded_count::bigint ORDER BY day)),
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(failed_count::bigint ORDER BY day)),
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(new_subscriptions::bigint ORDER BY day)),
      stats_day_array(array_agg(extract(day from day)::int ORDER BY day), array_agg(canceled_subscriptions::bigint ORDER BY day)),
      sum(gross), sum(refunded), sum(succeeded_count), sum(failed_count), sum(new_subscriptions), sum(canceled_subscriptions)
    FROM stats_daily WHERE dev IS NULL OR developer_id = dev
    GROUP BY developer_id, mode, date_trunc('month', day)::date, project_id, currency, shard;
  INSERT INTO stats_developer_monthly (developer_id, mode, month, currency, shard, gross, refunded, succeeded_count, failed_count,
      new_subscriptions, canceled_subscriptions)
    SELECT developer_id, mode, date_trunc('month', day)::date, currency, shard,
      stats_day_array(array_agg(extract(day from day)::int), array_agg(gross)),
      stats_day_array(array_agg(extract(day from day)::int), array_agg(refunded)),
      stats_day_array(array_agg(extract(day from day)::int), array_agg(succeeded_count::bigint)),
      stats_day_array(array_agg(extract(day from day)::int), array_agg(failed_count::bigint)),
      stats_day_array(array_agg(extract(day from day)::int), array_agg(new_subscriptions::bigint)),
      stats_day_array(array_agg(extract(day from day)::int), array_agg(canceled_subscriptions::bigint))
    FROM stats_daily WHERE dev IS NULL OR developer_id = dev
    GROUP BY developer_id, mode, date_trunc('month', day)::date, currency, shard;
$$;
--> statement-breakpoint
SELECT stats_rollup_rebuild(NULL);
