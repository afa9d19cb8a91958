import { sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { queryRows } from '../db/client.ts'
import type { Mode } from '../lib/stripe.ts'
import type { CurrentDelta, DailyDelta } from '../services/stats-contributions.ts'

/**
 * Reads of the incrementally maintained stats rows (never the transactions): sums over shards, in
 * two statements. Both start with developer_id, the first column of each stats table's primary key
 * (stats_daily also has (developer_id, mode, day)), so they read the caller's rows only.
 */
export interface StatsScope {
  developerId: string
  mode: Mode
  projectId?: string | undefined
  /** Inclusive UTC dates, YYYY-MM-DD. */
  from: string
  to: string
}

const projectFilter = (s: StatsScope): SQL => (s.projectId ? sql` and project_id = ${s.projectId}::uuid` : sql``)

/**
 * One pass over stats_daily with two grouping sets: (day, currency) for the series, (project_id,
 * currency) for the per-project breakdown (whose sum is the totals).
 */
export function statsDailyQuery (s: StatsScope): SQL {
  return sql`select grouping(day) as by_project, project_id, day::text as day, currency,
      sum(gross)::bigint as gross, sum(refunded)::bigint as refunded, sum(succeeded_count)::bigint as succeeded_count, sum(failed_count)::bigint as failed_count,
      sum(new_subscriptions)::bigint as new_subscriptions, sum(canceled_subscriptions)::bigint as canceled_subscriptions
    from stats_daily
    where developer_id = ${s.developerId} and mode = ${s.mode}${projectFilter(s)} and day between ${s.from}::date and ${s.to}::date
    group by grouping sets ((day, currency), (project_id, currency))`
}

export function statsCurrentQuery (s: Omit<StatsScope, 'from' | 'to'>): SQL {
  return sql`select project_id, currency, sum(active)::bigint as active, sum(trialing)::bigint as trialing, sum(past_due)::bigint as past_due,
      sum(canceled)::bigint as canceled, sum(incomplete)::bigint as incomplete, sum(unpaid)::bigint as unpaid, sum(paused)::bigint as paused, sum(mrr)::bigint as mrr
    from stats_subscriptions
    where developer_id = ${s.developerId} and mode = ${s.mode}${s.projectId ? sql` and project_id = ${s.projectId}::uuid` : sql``}
    group by project_id, currency`
}

export interface DailyAggregate extends Omit<DailyDelta, 'day'> {
  /** true: a per-project row (day null); false: a per-day row (project null). */
  byProject: boolean
  projectId: string | null
  day: string | null
}

/** A project's current subscription counts and MRR in one currency (summed over shards). */
export interface CurrentAggregate extends CurrentDelta {
  projectId: string
}

const num = (v: unknown): number => Number(v ?? 0)
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v))

export async function readDailyAggregates (db: Executor, s: StatsScope): Promise<DailyAggregate[]> {
  const rows = await queryRows(db, statsDailyQuery(s))
  return rows.map((r) => ({
    byProject: num(r.by_project) === 1,
    projectId: strOrNull(r.project_id),
    day: strOrNull(r.day),
    currency: String(r.currency),
    gross: num(r.gross),
    refunded: num(r.refunded),
    succeededCount: num(r.succeeded_count),
    failedCount: num(r.failed_count),
    newSubscriptions: num(r.new_subscriptions),
    canceledSubscriptions: num(r.canceled_subscriptions),
  }))
}

export async function readCurrentAggregates (db: Executor, s: Omit<StatsScope, 'from' | 'to'>): Promise<CurrentAggregate[]> {
  const rows = await queryRows(db, statsCurrentQuery(s))
  return rows.map((r) => ({
    projectId: String(r.project_id),
    currency: String(r.currency),
    active: num(r.active),
    trialing: num(r.trialing),
    pastDue: num(r.past_due),
    canceled: num(r.canceled),
    incomplete: num(r.incomplete),
    unpaid: num(r.unpaid),
    paused: num(r.paused),
    mrr: num(r.mrr),
  }))
}
