import { LRUCache } from 'lru-cache'
import type { Executor } from '../../platform/db/client.ts'
import { jsonArray } from '../../platform/db/client.ts'
import { empty, q, raw, runRows, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { CurrentDelta, DailyDelta } from './model.ts'
import { DAY_MS, dayStartMs, utcDay } from '../../platform/time.ts'

/**
 * Reads of the incrementally maintained stats (never the transactions), in one statement and one
 * round trip, from the month rollups of stats_daily (migrations/0006): a range of up to two years
 * is then ~25 rows per currency (and per project for the breakdown) whether a day saw one payment
 * or a thousand, so the read costs about the same on a new account and on a busy one.
 *
 * - The daily series comes as the month rows' day arrays, summed over shards and cut to the range
 *   here: stats_developer_monthly for the developer, stats_monthly for one project. Rows this
 *   instance already holds come back as their keys alone (MonthCache).
 * - The per-project totals: a month the range covers whole adds its totals (summed in SQL); the
 *   month of `from` or of `to`, when the range covers it in part, sends its days, summed here.
 *   Developer-wide, the whole months' sums are held too (MonthCache.totals), named by a fingerprint
 *   of the developer's month rows: the database sums the project rows again only when it differs.
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
  /**
   * Per month of the series (by its first day's offset from `from`), the tags and xmins of its rows:
   * while this string is the same, so are that month's days (a month without rows has none here).
   */
  monthVersions: Map<number, string>
  projectTotals: ProjectTotal[]
  current: CurrentAggregate[]
  /** Names of the caller's projects among those above (and the filtered one). */
  names: Map<string, string>
}

const MONTH_DAYS = 31
/** A month row's six day arrays as JSON text, `[..],[..],…` in DAY_FIELDS order (parsed with the row it is part of). */
const DAY_ARRAYS_JSON = raw(DAY_FIELDS.map((f) => `'[', array_to_string(${f}, ','), ']'`).join(`, ',', `))
export const daysBetween = (from: string, to: string): number => Math.round((dayStartMs(to) - dayStartMs(from)) / DAY_MS)

const monthStart = (day: string): string => `${day.slice(0, 7)}-01`
/** The first day of the month `delta` months after the one `day` is in. */
const monthAfter = (day: string, delta: number): string => {
  const d = new Date(`${monthStart(day)}T00:00:00Z`)
  d.setUTCMonth(d.getUTCMonth() + delta)
  return utcDay(d)
}

/** The range in month rows: its first and last months, and the months it covers whole (none when `wholeFrom` is after `wholeTo`). */
function monthsOf (s: StatsScope) {
  const toIsLastDay = monthAfter(s.to, 1) === utcDay(dayStartMs(s.to) + DAY_MS)
  return {
    fm: monthStart(s.from), tm: monthStart(s.to),
    wholeFrom: s.from.endsWith('-01') ? monthStart(s.from) : monthAfter(s.from, 1),
    wholeTo: toIsLastDay ? monthStart(s.to) : monthAfter(s.to, -1),
  }
}

/**
 * `known`: the month rows this instance holds, `month|currency|shard` (the series') or
 * `project|month|currency|shard` (a partial month's, per project) → xmin (see MonthCache); those
 * come back without their days. A jsonb object, so each row's check is one keyed lookup
 * however many rows are held (a scope of eight shards holds ~600 for two years).
 */
export function statsQuery (s: StatsScope, known: Record<string, string> = {}, heldTotals?: HeldTotals): Fragment {
  const { fm, tm, wholeFrom, wholeTo } = monthsOf(s)
  const knownJson = JSON.stringify(known)
  // The first and last months when the range covers them in part: as a list the index can look up,
  // whatever plan the prepared statement settles on (a generic plan cannot split a NOT BETWEEN).
  const partialMonths = [...new Set([fm, tm])].filter((m) => m < wholeFrom || m > wholeTo)
  const project = s.projectId ? q` and project_id = ${s.projectId}::uuid` : empty
  const asked = s.projectId ? q` union select ${s.projectId}::uuid` : empty
  const series = s.projectId ? raw('stats_monthly') : raw('stats_developer_monthly')
  const owner = q`developer_id = ${s.developerId} and mode = ${s.mode}${project}`
  const months = q`${owner} and month between ${fm}::date and ${tm}::date`
  // A month the range covers whole adds its totals here; a month it covers in part (the first or the
  // last) sends its days, summed over the range in readStats (cheaper than slicing and unnesting here).
  // Every change of a project's month row changes the developer's row of that month, currency and
  // shard in the same transaction (the trigger writes both, or neither for a change of nothing; the
  // rebuild replaces both), and every change gives a row a new xmin. So while the developer rows of
  // the whole months keep the xmins they had, the project rows' sums are the ones already held.
  // (A project scope reads a few rows for its totals: nothing to spare there.)
  const fingerprint = s.projectId
    ? q`null::text`
    : q`(select md5(string_agg(concat(month, '|', currency, '|', shard, '|', xmin), ',' order by month, currency, shard))
        from stats_developer_monthly where developer_id = ${s.developerId} and mode = ${s.mode} and month between ${wholeFrom}::date and ${wholeTo}::date)`
  return q`with fp as (select ${fingerprint} as v), totals as (
      select project_id, currency, sum(gross_total)::bigint as gross, sum(refunded_total)::bigint as refunded, sum(succeeded_total)::bigint as succeeded_count,
        sum(failed_total)::bigint as failed_count, sum(new_total + canceled_total)::bigint as moves
      from stats_monthly where ${months} and month between ${wholeFrom}::date and ${wholeTo}::date
        and (select v from fp) is distinct from ${heldTotals?.fingerprint ?? ''}::text
      group by project_id, currency
    ), partial as (
      select project_id, concat('[', to_json(project_id), ',', to_json(currency), ',', month - ${s.from}::date, ',', to_json(tag), ',', to_json(xmin::text),
          case when ${knownJson}::jsonb ->> tag = xmin::text then ']' else concat(',', ${DAY_ARRAYS_JSON}, ']') end) as days
      from (select *, xmin, concat(project_id, '|', month, '|', currency, '|', shard) as tag from stats_monthly
        where ${owner} and month = any(${partialMonths}::text[]::date[])) m
    ), c as (
      select project_id, currency, sum(active)::bigint as active, sum(trialing)::bigint as trialing, sum(past_due)::bigint as past_due,
        sum(canceled)::bigint as canceled, sum(incomplete)::bigint as incomplete, sum(unpaid)::bigint as unpaid, sum(paused)::bigint as paused, sum(mrr)::bigint as mrr
      from stats_subscriptions
      where developer_id = ${s.developerId} and mode = ${s.mode}${project}
      group by project_id, currency
    )
    select (select v from fp) as whole_fingerprint,
      (select string_agg(concat('[', month - ${s.from}::date, ',', to_json(currency), ',', to_json(concat(month, '|', currency, '|', shard)), ',', to_json(xmin::text),
          case when ${knownJson}::jsonb ->> concat(month, '|', currency, '|', shard) = xmin::text then ']' else concat(',', ${DAY_ARRAYS_JSON}, ']') end), ',')
        from ${series} where ${months}) as series,
      (select json_agg(json_build_array(project_id, currency, gross, refunded, succeeded_count, failed_count, moves)) from totals) as project_totals,
      (select string_agg(days, ',') from partial) as partial_months,
      (select json_agg(json_build_array(project_id, currency, active, trialing, past_due, canceled, incomplete, unpaid, paused, mrr)) from c) as current,
      (select json_agg(json_build_array(id, name)) from projects
        where developer_id = ${s.developerId} and id in (select project_id from totals union select project_id from partial union select project_id from c${asked}
          union select unnest(${heldTotals?.projectIds ?? []}::uuid[]))) as names`
}

const num = (v: unknown): number => Number(v ?? 0)
const str = (v: unknown): string => String(v ?? '')
const tuples = (raw: unknown): unknown[][] => jsonArray(raw).map((t) => (Array.isArray(t) ? t : []))
/** Rows written by string_agg as `[…],[…]`: JSON.parse is the fastest exact reader (and throws on anything else). */
const aggregatedRows = (raw: unknown): unknown[][] => {
  const text = str(raw)
  const rows: unknown = text === '' ? [] : JSON.parse(`[${text}]`)
  return Array.isArray(rows) ? rows.filter((r): r is unknown[] => Array.isArray(r)) : []
}
/** The days of a month row that lie in the range: day i of the month is day `offset + i` of the range. */
const inRange = (offset: number, days: number): [first: number, last: number] => [Math.max(0, -offset), Math.min(MONTH_DAYS, days - offset)]

/** Whole months' per-project sums as read, `[project, currency, gross, refunded, succeeded, failed, moves]`, and the developer rows' fingerprint then. */
export interface HeldTotals {
  fingerprint: string
  rows: unknown[][]
  projectIds: string[]
}

/**
 * The month rows as last read, by scope and tag (`month|currency|shard` for the series,
 * `project|month|currency|shard` for a partial month's per-project row), with the row's `xmin`.
 * A month row changes only by an update, which gives it a new xmin, so a row whose xmin is the one
 * held is the same row: the read names the rows it holds and the database sends the days only of
 * the others (in practice the current month). A two-year read then moves a few rows, not ~75 rows
 * of 186 numbers. Bounded (least recently read scopes go first; memory per row in bench/RESULTS.md);
 * per instance, in memory.
 */
export class MonthCache {
  /** Rows by scope; a scope weighs its number of rows. */
  private readonly scopes: LRUCache<string, Map<string, { xmin: string, days: Float64Array }>>
  /** Developer-wide sums of whole months, by scope and months, with the fingerprint they were read at. */
  private readonly sums: LRUCache<string, HeldTotals>
  constructor (limit = 10_000, totalsLimit = 1_000) {
    this.scopes = new LRUCache({ maxSize: limit, sizeCalculation: (rows) => Math.max(1, rows.size) })
    this.sums = new LRUCache({ max: totalsLimit })
  }

  totals (key: string): HeldTotals | undefined {
    return this.sums.get(key)
  }

  keepTotals (key: string, held: HeldTotals): void {
    this.sums.set(key, held)
  }

  /** The rows held for a scope (a snapshot: the map may change while the read is in flight). */
  held (scope: string): Map<string, { xmin: string, days: Float64Array }> {
    return new Map(this.scopes.get(scope))
  }

  keep (scope: string, tag: string, xmin: string, days: Float64Array): void {
    const rows = this.scopes.get(scope) ?? new Map<string, { xmin: string, days: Float64Array }>()
    rows.set(tag, { xmin, days })
    // Set again so the scope is weighed anew.
    this.scopes.set(scope, rows)
  }
}

const FIELDS = DAY_FIELDS.length

/**
 * A month row's days, day-major (`i * FIELDS + k` is counter k of day i + 1): its day arrays from
 * `at` on when the database sent them (then held for next time), else the ones held.
 */
function monthDays (row: unknown[], at: number, tag: string, xmin: string, scope: string, held: Map<string, { xmin: string, days: Float64Array }>, cache: MonthCache): Float64Array {
  const kept = held.get(tag)?.days
  if (row.length <= at && kept) return kept
  const month = new Float64Array(MONTH_DAYS * FIELDS)
  for (let k = 0; k < FIELDS; k++) {
    const counts = (row[at + k] ?? []) as number[]
    for (let i = 0; i < MONTH_DAYS; i++) month[i * FIELDS + k] = counts[i] ?? 0
  }
  cache.keep(scope, tag, xmin, month)
  return month
}

/**
 * The month rows of the series, `[days from \`from\` to the month's first day, currency, tag, xmin,
 * ...day arrays when not held]`, summed per currency into one dense array over the range. Slots a
 * month lacks (Feb 30) hold 0, so they add nothing to the next month's days they overlap.
 */
function seriesOf (raw: unknown, days: number, scope: string, held: Map<string, { xmin: string, days: Float64Array }>, cache: MonthCache):
  Pick<StatsRows, 'daily' | 'monthVersions'> {
  const sums = new Map<string, { values: Float64Array, nonZero: boolean }>()
  const versions = new Map<number, string[]>()
  for (const row of aggregatedRows(raw)) {
    const offset = num(row[0])
    const currency = str(row[1])
    const tag = str(row[2])
    const xmin = str(row[3])
    const version = versions.get(offset)
    if (version) version.push(`${tag}=${xmin}`)
    else versions.set(offset, [`${tag}=${xmin}`])
    const month = monthDays(row, 4, tag, xmin, scope, held, cache)
    const acc = sums.get(currency) ?? { values: new Float64Array(days * FIELDS), nonZero: false }
    sums.set(currency, acc)
    const values = acc.values
    const [first, last] = inRange(offset, days)
    const shift = offset * FIELDS
    for (let i = first * FIELDS; i < last * FIELDS; i++) {
      const v = month[i] ?? 0
      if (v !== 0) {
        values[shift + i] = (values[shift + i] ?? 0) + v
        acc.nonZero = true
      }
    }
  }
  return {
    daily: [...sums.entries()].filter(([, a]) => a.nonZero).map(([currency, a]) => ({ currency, values: a.values })),
    monthVersions: new Map([...versions].map(([offset, tags]) => [offset, tags.sort().join(',')])),
  }
}

/**
 * Per project and currency: the whole months' totals plus the days of the partial months, keeping
 * those with anything in the range (a count or an amount; every day's counters are never negative).
 */
function projectTotalsOf (whole: unknown[][], partial: unknown, days: number, scope: string, held: Map<string, { xmin: string, days: Float64Array }>, cache: MonthCache): ProjectTotal[] {
  const totals = new Map<string, ProjectTotal & { moves: number }>()
  const at = (projectId: string, currency: string) => {
    const key = `${projectId}|${currency}`
    const t = totals.get(key) ?? { projectId, currency, gross: 0, refunded: 0, succeededCount: 0, failedCount: 0, moves: 0 }
    totals.set(key, t)
    return t
  }
  for (const [projectId, currency, gross, refunded, succeeded, failed, moves] of whole) {
    const t = at(str(projectId), str(currency))
    t.gross += num(gross)
    t.refunded += num(refunded)
    t.succeededCount += num(succeeded)
    t.failedCount += num(failed)
    t.moves += num(moves)
  }
  for (const row of aggregatedRows(partial)) {
    const t = at(str(row[0]), str(row[1]))
    const month = monthDays(row, 5, str(row[3]), str(row[4]), scope, held, cache)
    const [first, last] = inRange(num(row[2]), days)
    for (let i = first; i < last; i++) {
      const d = i * FIELDS
      t.gross += month[d] ?? 0
      t.refunded += month[d + 1] ?? 0
      t.succeededCount += month[d + 2] ?? 0
      t.failedCount += month[d + 3] ?? 0
      t.moves += (month[d + 4] ?? 0) + (month[d + 5] ?? 0)
    }
  }
  return [...totals.values()]
    .filter((t) => t.gross !== 0 || t.refunded !== 0 || t.succeededCount !== 0 || t.failedCount !== 0 || t.moves !== 0)
    .map(({ moves: _moves, ...t }) => t)
}

export async function readStats (db: Executor, s: StatsScope, cache: MonthCache): Promise<StatsRows> {
  const scope = `${s.developerId}|${s.mode}|${s.projectId ?? ''}`
  const held = cache.held(scope)
  const known = Object.fromEntries([...held].map(([tag, { xmin }]) => [tag, xmin]))
  const { wholeFrom, wholeTo } = monthsOf(s)
  const totalsKey = `${scope}|${wholeFrom}|${wholeTo}`
  const heldTotals = s.projectId ? undefined : cache.totals(totalsKey)
  const [row] = await runRows<{ whole_fingerprint: string | null, series: unknown, project_totals: unknown, partial_months: unknown, current: unknown, names: unknown }>(
    db, statsQuery(s, known, heldTotals))
  // The same test the statement made: when it holds, the database left the whole months' sums to us.
  const fingerprint = row?.whole_fingerprint ?? null
  let whole: unknown[][]
  if (heldTotals && fingerprint === heldTotals.fingerprint) {
    whole = heldTotals.rows
  } else {
    whole = tuples(row?.project_totals)
    if (fingerprint !== null && !s.projectId) cache.keepTotals(totalsKey, { fingerprint, rows: whole, projectIds: [...new Set(whole.map((t) => str(t[0])))] })
  }
  const days = daysBetween(s.from, s.to) + 1
  return {
    ...seriesOf(row?.series, days, scope, held, cache),
    projectTotals: projectTotalsOf(whole, row?.partial_months, days, scope, held, cache),
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
