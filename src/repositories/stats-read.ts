import type { Executor } from '../db/client.ts'
import { jsonArray } from '../db/client.ts'
import { empty, q, raw, runRows, type Fragment } from '../db/statement.ts'
import type { Mode } from '../lib/stripe.ts'
import type { CurrentDelta, DailyDelta } from '../services/stats-contributions.ts'

/**
 * Reads of the incrementally maintained stats (never the transactions), in one statement and one
 * round trip, from the month rollups of stats_daily (migrations/0006): a range of up to two years
 * is then ~25 rows per currency (and per project for the breakdown) whether a day saw one payment
 * or a thousand, so the read costs about the same on a new account and on a busy one.
 *
 * - The daily series comes as the month rows' day arrays, summed over shards and cut to the range
 *   here: stats_developer_monthly for the developer, stats_monthly for one project.
 * - The per-project totals are summed in SQL: a month inside the range adds its totals, the month
 *   of `from` and of `to` add the slice of their day arrays that lies in the range.
 * - Current subscriptions are stats_subscriptions summed over shards.
 * All are read from developer_id, the first column of every key, so they read the caller's rows only.
 */
export interface StatsScope {
  developerId: string
  mode: Mode
  projectId?: string | undefined
  /** Inclusive UTC dates, YYYY-MM-DD. */
  from: string
  to: string
}

/** The counters of one day of a series, in this order. */
export const DAY_FIELDS = ['gross', 'refunded', 'succeeded_count', 'failed_count', 'new_subscriptions', 'canceled_subscriptions'] as const

/** One currency's series over the range: DAY_FIELDS.length numbers per day, day 0 = `from`; only currencies with a non-zero day. */
export interface DailySeries {
  currency: string
  values: Float64Array
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

const MONTH_DAYS = 31
const DAY_MS = 86_400_000
const daysBetween = (from: string, to: string): number => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS)

const monthStart = (day: string): string => `${day.slice(0, 7)}-01`
/** The first day of the month `delta` months after the one `day` is in. */
const monthAfter = (day: string, delta: number): string => {
  const d = new Date(`${monthStart(day)}T00:00:00Z`)
  d.setUTCMonth(d.getUTCMonth() + delta)
  return d.toISOString().slice(0, 10)
}

/**
 * The range in month rows: its first and last months, the day of month of `from` and `to`, and the
 * months it covers whole (`wholeFrom` after `wholeTo` when none), whose totals need no slicing.
 */
function monthsOf (s: StatsScope) {
  const fd = Number(s.from.slice(8, 10))
  const td = Number(s.to.slice(8, 10))
  const toIsLastDay = monthAfter(s.to, 1) === new Date(Date.parse(`${s.to}T00:00:00Z`) + DAY_MS).toISOString().slice(0, 10)
  return {
    fm: monthStart(s.from), tm: monthStart(s.to), fd, td,
    wholeFrom: fd === 1 ? monthStart(s.from) : monthAfter(s.from, 1),
    wholeTo: toIsLastDay ? monthStart(s.to) : monthAfter(s.to, -1),
  }
}

export function statsQuery (s: StatsScope): Fragment {
  const { fm, tm, fd, td, wholeFrom, wholeTo } = monthsOf(s)
  const project = s.projectId ? q` and project_id = ${s.projectId}::uuid` : empty
  const asked = s.projectId ? q` union select ${s.projectId}::uuid` : empty
  const series = s.projectId ? raw('stats_monthly') : raw('stats_developer_monthly')
  const months = q`developer_id = ${s.developerId} and mode = ${s.mode}${project} and month between ${fm}::date and ${tm}::date`
  // A month the range covers whole adds its totals; a month it covers in part (the first or the last) adds the slice of its days in the range.
  const slice = (field: string): Fragment => q`${raw(field)}[case when month = ${fm}::date then ${fd}::int else 1 end : case when month = ${tm}::date then ${td}::int else ${MONTH_DAYS}::int end]`
  return q`with p as (
      select project_id, currency, gross_total as gross, refunded_total as refunded, succeeded_total as succeeded_count, failed_total as failed_count,
        new_total + canceled_total as moves
      from stats_monthly where ${months} and month between ${wholeFrom}::date and ${wholeTo}::date
      union all
      select project_id, currency, e.*
      from stats_monthly, lateral (
        select sum(g)::bigint, sum(r)::bigint, sum(s)::bigint, sum(f)::bigint, sum(n + c)::bigint
        from unnest(${slice('gross')}, ${slice('refunded')}, ${slice('succeeded_count')}, ${slice('failed_count')}, ${slice('new_subscriptions')}, ${slice('canceled_subscriptions')}) u(g, r, s, f, n, c)
      ) e
      where ${months} and not month between ${wholeFrom}::date and ${wholeTo}::date
    ), totals as (
      select project_id, currency, sum(gross)::bigint as gross, sum(refunded)::bigint as refunded, sum(succeeded_count)::bigint as succeeded_count, sum(failed_count)::bigint as failed_count
      from p group by project_id, currency
      having sum(gross) <> 0 or sum(refunded) <> 0 or sum(succeeded_count) <> 0 or sum(failed_count) <> 0 or sum(moves) <> 0
    ), c as (
      select project_id, currency, sum(active)::bigint as active, sum(trialing)::bigint as trialing, sum(past_due)::bigint as past_due,
        sum(canceled)::bigint as canceled, sum(incomplete)::bigint as incomplete, sum(unpaid)::bigint as unpaid, sum(paused)::bigint as paused, sum(mrr)::bigint as mrr
      from stats_subscriptions
      where developer_id = ${s.developerId} and mode = ${s.mode}${project}
      group by project_id, currency
    )
    select
      (select string_agg(concat('[', month - ${s.from}::date, ',', to_json(currency), ',[', array_to_string(gross, ','), '],[', array_to_string(refunded, ','), '],[',
          array_to_string(succeeded_count, ','), '],[', array_to_string(failed_count, ','), '],[', array_to_string(new_subscriptions, ','), '],[',
          array_to_string(canceled_subscriptions, ','), ']]'), ',')
        from ${series} where ${months}) as series,
      (select json_agg(json_build_array(project_id, currency, gross, refunded, succeeded_count, failed_count)) from totals) as project_totals,
      (select json_agg(json_build_array(project_id, currency, active, trialing, past_due, canceled, incomplete, unpaid, paused, mrr)) from c) as current,
      (select json_agg(json_build_array(id, name)) from projects
        where developer_id = ${s.developerId} and id in (select project_id from totals union select project_id from c${asked})) as names`
}

const num = (v: unknown): number => Number(v ?? 0)
const str = (v: unknown): string => String(v ?? '')
const tuples = (raw: unknown): unknown[][] => jsonArray(raw).map((t) => (Array.isArray(t) ? t : []))

/**
 * The month rows of the series, `[days from \`from\` to the month's first day, currency, ...day arrays]`,
 * summed per currency into one dense array over the range. Slots a month lacks (Feb 30) hold 0, so
 * they add nothing to the next month's days they overlap.
 */
function seriesOf (raw: unknown, days: number): DailySeries[] {
  const text = str(raw)
  if (text === '') return []
  const rows: unknown = JSON.parse(`[${text}]`)
  const width = DAY_FIELDS.length
  const sums = new Map<string, { values: Float64Array, nonZero: boolean }>()
  for (const row of Array.isArray(rows) ? rows as unknown[][] : []) {
    const offset = num(row[0])
    const currency = str(row[1])
    const acc = sums.get(currency) ?? { values: new Float64Array(days * width), nonZero: false }
    sums.set(currency, acc)
    const values = acc.values
    const first = Math.max(0, -offset)
    const last = Math.min(MONTH_DAYS, days - offset)
    for (let k = 0; k < width; k++) {
      const counts = row[2 + k] as number[]
      for (let i = first; i < last; i++) {
        const v = counts[i] ?? 0
        if (v !== 0) {
          const at = (offset + i) * width + k
          values[at] = (values[at] ?? 0) + v
          acc.nonZero = true
        }
      }
    }
  }
  return [...sums.entries()].filter(([, a]) => a.nonZero).map(([currency, a]) => ({ currency, values: a.values }))
}

export async function readStats (db: Executor, s: StatsScope): Promise<StatsRows> {
  const [row] = await runRows<{ series: unknown, project_totals: unknown, current: unknown, names: unknown }>(db, statsQuery(s))
  return {
    daily: seriesOf(row?.series, daysBetween(s.from, s.to) + 1),
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
