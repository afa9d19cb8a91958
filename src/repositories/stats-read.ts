import type { Executor } from '../db/client.ts'
import { jsonArray } from '../db/client.ts'
import { empty, q, runRows, type Fragment } from '../db/statement.ts'
import type { Mode } from '../lib/stripe.ts'
import type { CurrentDelta, DailyDelta } from '../services/stats-contributions.ts'

/**
 * Reads of the incrementally maintained stats rows (never the transactions): sums over shards, in
 * one statement and one round trip. Both stats tables are read from developer_id, the first column
 * of each primary key (stats_daily also has (developer_id, mode, day)), so they read the caller's
 * rows only.
 *
 * Why the answer is one row of compact JSON and text rather than rows: a two-year window of a busy
 * developer groups ~10,000 stats_daily rows into ~2,000 (day, currency) sums. Sent as ~2,000 driver
 * rows, writing and parsing them cost more than reading and summing the stats rows did; one text
 * of comma-separated integers per currency is a fraction of that on both sides.
 */
export interface StatsScope {
  developerId: string
  mode: Mode
  projectId?: string | undefined
  /** Inclusive UTC dates, YYYY-MM-DD. */
  from: string
  to: string
}

/** The fields of one day in `DailySeries.values`, in this order (the SQL below writes them so). */
export const DAY_FIELDS = ['day', 'gross', 'refunded', 'succeededCount', 'failedCount', 'newSubscriptions', 'canceledSubscriptions'] as const

/** One currency's days that have stats rows: `values` holds DAY_FIELDS.length integers per day, `day` as days after `from`. */
export interface DailySeries {
  currency: string
  values: number[]
}

/** A project's money over the range in one currency (summed over days and shards). */
export interface ProjectTotal extends Pick<DailyDelta, 'currency' | 'gross' | 'refunded' | 'succeededCount' | 'failedCount'> {
  projectId: string
}

/** A project's current subscription counts and MRR in one currency (summed over shards). */
export interface CurrentAggregate extends CurrentDelta {
  projectId: string
}

export interface StatsRows {
  daily: DailySeries[]
  projectTotals: ProjectTotal[]
  current: CurrentAggregate[]
  /** Names of the caller's projects among those above (and the filtered one). */
  names: Map<string, string>
}

/**
 * One pass over stats_daily with two grouping sets: (day, currency) for the series, (project_id,
 * currency) for the per-project breakdown (whose sum is the totals); then stats_subscriptions by
 * (project, currency), and the names of the projects either mentions.
 */
export function statsQuery (s: StatsScope): Fragment {
  const project = s.projectId ? q` and project_id = ${s.projectId}::uuid` : empty
  const asked = s.projectId ? q` union select ${s.projectId}::uuid` : empty
  return q`with d as (
      select grouping(day) as by_project, project_id, day - ${s.from}::date as d, currency,
        sum(gross)::bigint as gross, sum(refunded)::bigint as refunded, sum(succeeded_count)::bigint as succeeded_count, sum(failed_count)::bigint as failed_count,
        sum(new_subscriptions)::bigint as new_subscriptions, sum(canceled_subscriptions)::bigint as canceled_subscriptions
      from stats_daily
      where developer_id = ${s.developerId} and mode = ${s.mode}${project} and day between ${s.from}::date and ${s.to}::date
      group by grouping sets ((day, currency), (project_id, currency))
    ), c as (
      select project_id, currency, sum(active)::bigint as active, sum(trialing)::bigint as trialing, sum(past_due)::bigint as past_due,
        sum(canceled)::bigint as canceled, sum(incomplete)::bigint as incomplete, sum(unpaid)::bigint as unpaid, sum(paused)::bigint as paused, sum(mrr)::bigint as mrr
      from stats_subscriptions
      where developer_id = ${s.developerId} and mode = ${s.mode}${project}
      group by project_id, currency
    )
    select
      (select json_agg(json_build_array(currency, v)) from (
        select currency, string_agg(concat_ws(',', d, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions), ',') as v
        from d where by_project = 0 group by currency) days) as daily,
      (select json_agg(json_build_array(project_id, currency, gross, refunded, succeeded_count, failed_count)) from d where by_project = 1) as project_totals,
      (select json_agg(json_build_array(project_id, currency, active, trialing, past_due, canceled, incomplete, unpaid, paused, mrr)) from c) as current,
      (select json_agg(json_build_array(id, name)) from projects
        where developer_id = ${s.developerId} and id in (select project_id from d where by_project = 1 union select project_id from c${asked})) as names`
}

const num = (v: unknown): number => Number(v ?? 0)
const str = (v: unknown): string => String(v ?? '')
const tuples = (raw: unknown): unknown[][] => jsonArray(raw).map((t) => (Array.isArray(t) ? t : []))
/** `1,2,3` as written by string_agg: JSON.parse is the fastest exact reader of it (and throws on anything else). */
const integers = (raw: unknown): number[] => {
  const parsed: unknown = JSON.parse(`[${str(raw)}]`)
  return Array.isArray(parsed) ? parsed.map(num) : []
}

export async function readStats (db: Executor, s: StatsScope): Promise<StatsRows> {
  const [row] = await runRows<{ daily: unknown, project_totals: unknown, current: unknown, names: unknown }>(db, statsQuery(s))
  return {
    daily: tuples(row?.daily).map(([currency, values]) => ({ currency: str(currency), values: integers(values) })),
    projectTotals: tuples(row?.project_totals).map(([projectId, currency, gross, refunded, succeeded, failed]) => ({
      projectId: str(projectId), currency: str(currency), gross: num(gross), refunded: num(refunded), succeededCount: num(succeeded), failedCount: num(failed),
    })),
    current: tuples(row?.current).map(([projectId, currency, active, trialing, pastDue, canceled, incomplete, unpaid, paused, mrr]) => ({
      projectId: str(projectId),
      currency: str(currency),
      active: num(active),
      trialing: num(trialing),
      pastDue: num(pastDue),
      canceled: num(canceled),
      incomplete: num(incomplete),
      unpaid: num(unpaid),
      paused: num(paused),
      mrr: num(mrr),
    })),
    names: new Map(tuples(row?.names).map(([id, name]) => [str(id), str(name)])),
  }
}
