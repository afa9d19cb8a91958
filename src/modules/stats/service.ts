import { LRUCache } from 'lru-cache'
import type { Executor } from '../../platform/db/client.ts'
import { badRequest } from '../../platform/http/errors.ts'
import { DAY_MS, dayStartMs, utcDay } from '../../platform/time.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { readCreditStats, type CreditStatsRows } from './credit-repository.ts'
import { DAY_FIELDS, daysBetween, MonthCache, readStats, type CurrentAggregate, type ProjectTotal, type StatsRows } from './read-repository.ts'

/** Default window: the last 30 UTC days, today included. */
export const DEFAULT_RANGE_DAYS = 30
/** Longest window: two years (731 days between `from` and `to`, so a leap year fits). */
export const MAX_RANGE_DAYS = 731

const DATE = /^\d{4}-\d{2}-\d{2}$/

const parseDay = (value: string, field: string): number => {
  const ms = dayStartMs(value)
  if (!DATE.test(value) || Number.isNaN(ms) || utcDay(ms) !== value) {
    throw badRequest('invalid_date', `${field} must be a calendar date YYYY-MM-DD`)
  }
  return ms
}

/** The inclusive [from, to] window of a request: defaults, order and the two-year bound. */
export function statsRange (query: { from?: string | undefined, to?: string | undefined }, now = new Date()): { from: string, to: string } {
  const toMs = query.to ? parseDay(query.to, 'to') : parseDay(utcDay(now), 'to')
  const fromMs = query.from ? parseDay(query.from, 'from') : toMs - (DEFAULT_RANGE_DAYS - 1) * DAY_MS
  if (fromMs > toMs) throw badRequest('invalid_date_range', '`from` must not be after `to`')
  if ((toMs - fromMs) / DAY_MS > MAX_RANGE_DAYS) throw badRequest('date_range_too_long', `The range may span at most two years (${MAX_RANGE_DAYS} days between from and to)`)
  return { from: utcDay(fromMs), to: utcDay(toMs) }
}

interface Totals { currency: string, gross: number, refunded: number, net: number, succeeded_count: number, failed_count: number }
interface SubscriptionCounts { active: number, trialing: number, past_due: number, canceled: number, incomplete: number, unpaid: number, paused: number }
interface Mrr { currency: string, amount: number }

const byCurrency = <T extends { currency: string }>(a: T, b: T) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0)
const emptyCounts = (): SubscriptionCounts => ({ active: 0, trialing: 0, past_due: 0, canceled: 0, incomplete: 0, unpaid: 0, paused: 0 })

function totalsOf (rows: ProjectTotal[]): Totals[] {
  const acc = new Map<string, Totals>()
  for (const r of rows) {
    const t = acc.get(r.currency) ?? { currency: r.currency, gross: 0, refunded: 0, net: 0, succeeded_count: 0, failed_count: 0 }
    t.gross += r.gross
    t.refunded += r.refunded
    t.net = t.gross - t.refunded
    t.succeeded_count += r.succeededCount
    t.failed_count += r.failedCount
    acc.set(r.currency, t)
  }
  return [...acc.values()].sort(byCurrency)
}

function countsOf (rows: CurrentAggregate[]): SubscriptionCounts {
  const c = emptyCounts()
  for (const r of rows) {
    c.active += r.active
    c.trialing += r.trialing
    c.past_due += r.pastDue
    c.canceled += r.canceled
    c.incomplete += r.incomplete
    c.unpaid += r.unpaid
    c.paused += r.paused
  }
  return c
}

function mrrOf (rows: CurrentAggregate[]): Mrr[] {
  const acc = new Map<string, number>()
  for (const r of rows) acc.set(r.currency, (acc.get(r.currency) ?? 0) + r.mrr)
  return [...acc.entries()].map(([currency, amount]) => ({ currency, amount })).sort(byCurrency)
}

const STRIDE = DAY_FIELDS.length
const TWO_DIGITS = Array.from({ length: 32 }, (_, i) => String(i).padStart(2, '0'))

/** `count` consecutive UTC dates from `from`, YYYY-MM-DD, built by hand: toISOString per day is slower (bench/RESULTS.md). */
function datesFrom (from: string, count: number): string[] {
  const dates = new Array<string>(count)
  const at = new Date(`${from}T00:00:00Z`)
  for (let i = 0; i < count; i++) {
    dates[i] = `${String(at.getUTCFullYear()).padStart(4, '0')}-${TWO_DIGITS[at.getUTCMonth() + 1] ?? ''}-${TWO_DIGITS[at.getUTCDate()] ?? ''}`
    at.setUTCDate(at.getUTCDate() + 1)
  }
  return dates
}

/**
 * The JSON text of each month of a daily series already written, by scope, first and last date and
 * currencies, with the version of the month rows it was written from (StatsRows.monthVersions): a
 * closed month is written once and then reused while its rows keep their xmin. Bounded by the
 * characters held (least recently used go first), per instance.
 */
export class DailyTextCache {
  private readonly texts: LRUCache<string, { version: string, text: string }>
  constructor (limit = 16_000_000) {
    this.texts = new LRUCache({ maxSize: limit, sizeCalculation: (held) => Math.max(1, held.text.length) })
  }

  get (key: string, version: string): string | undefined {
    const held = this.texts.get(key)
    return held?.version === version ? held.text : undefined
  }

  set (key: string, version: string, text: string): void {
    this.texts.set(key, { version, text })
  }
}

/** Days in the month of a YYYY-MM-DD date. */
const monthLength = (date: string): number => new Date(Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)), 0)).getUTCDate()

/**
 * The daily series as the JSON text of its entries (without the brackets): every day of [from, to]
 * × every currency, date-major, zero-filled, from each currency's dense series (see DAY_FIELDS);
 * the keys in the order of StatsView's schema, as its serializer writes them. Month by month, each
 * reused from `texts` while the month's rows are unchanged: most of a long range is closed months,
 * and writing their numbers was most of the response's cost.
 */
function dailyJson (scope: string, from: string, days: number, currencies: string[], rows: Pick<StatsRows, 'daily' | 'monthVersions'>, texts: DailyTextCache): string {
  const width = currencies.length
  if (width === 0) return ''
  const none = new Float64Array(days * STRIDE)
  const columns = currencies.map((c) => rows.daily.find((d) => d.currency === c)?.values ?? none)
  const quoted = currencies.map((c) => JSON.stringify(c))
  const dates = datesFrom(from, days)
  const months: string[] = []
  for (let first = 0; first < days;) {
    const date = dates[first] ?? ''
    const monthOffset = first - (Number(date.slice(8, 10)) - 1)
    const end = Math.min(days, monthOffset + monthLength(date))
    const key = `${scope}|${date}|${dates[end - 1] ?? ''}|${currencies.join(',')}`
    const version = rows.monthVersions.get(monthOffset) ?? ''
    let text = texts.get(key, version)
    if (text === undefined) {
      const entries: string[] = []
      for (let day = first; day < end; day++) {
        const i = day * STRIDE
        for (let column = 0; column < width; column++) {
          const v = columns[column] ?? none
          entries.push(`{"date":"${dates[day] ?? ''}","currency":${quoted[column] ?? '""'},"gross":${v[i] ?? 0},"refunded":${v[i + 1] ?? 0},` +
            `"succeeded_count":${v[i + 2] ?? 0},"failed_count":${v[i + 3] ?? 0},"new_subscriptions":${v[i + 4] ?? 0},"canceled_subscriptions":${v[i + 5] ?? 0}}`)
        }
      }
      text = entries.join(',')
      texts.set(key, version, text)
    }
    months.push(text)
    first = end
  }
  return months.join(',')
}

/**
 * The credits block: the range's totals, every day of the range zero-filled (empty when the scope never
 * moved a credit in it), and what is still owed to end users now.
 */
function creditsOf (rows: CreditStatsRows, from: string, days: number) {
  const byDay = new Map(rows.days.map((d) => [d.day, d]))
  const sum = (f: (d: CreditStatsRows['days'][number]) => number) => rows.days.reduce((n, d) => n + f(d), 0)
  return {
    granted: sum((d) => d.granted),
    consumed: sum((d) => d.consumed),
    expired: sum((d) => d.expired),
    clawed_back: sum((d) => d.clawedBack),
    outstanding: [...rows.outstanding.values()].reduce((n, v) => n + v, 0),
    daily: rows.days.length === 0
      ? []
      : datesFrom(from, days).map((date) => {
        const d = byDay.get(date)
        return { date, credits_granted: d?.granted ?? 0, credits_consumed: d?.consumed ?? 0, credits_expired: d?.expired ?? 0, credits_clawed_back: d?.clawedBack ?? 0 }
      }),
  }
}

const groupBy = <T extends { projectId: string }>(rows: T[]): Map<string, T[]> => {
  const groups = new Map<string, T[]>()
  for (const r of rows) {
    const group = groups.get(r.projectId)
    if (group) group.push(r)
    else groups.set(r.projectId, [r])
  }
  return groups
}

export interface StatsRequest { developerId: string, mode: Mode, projectId?: string | undefined, from?: string | undefined, to?: string | undefined }

/** What the stats read keeps per instance: month rows and sums (MonthCache) and written months (DailyTextCache). */
export interface StatsCaches { months: MonthCache, texts: DailyTextCache }
export const statsCaches = (): StatsCaches => ({ months: new MonthCache(), texts: new DailyTextCache() })

/**
 * The dashboard's stats, from the stats rows only. `daily` has one entry per day of the range and
 * per currency that the range or the current subscriptions involve, zero-filled; `projects` lists
 * every project with money in the range or subscriptions now (and the filtered project always).
 * The view comes with `daily` empty and the series as JSON text in `dailyJson` (statsJson joins them).
 */
export async function readDashboardStats (db: Executor, req: StatsRequest, caches = statsCaches(), now = new Date()) {
  const { from, to } = statsRange(req, now)
  const [rows, credits] = await Promise.all([
    readStats(db, { developerId: req.developerId, mode: req.mode, projectId: req.projectId, from, to }, caches.months),
    readCreditStats(db, { developerId: req.developerId, mode: req.mode, projectId: req.projectId, from, to }),
  ])
  const { projectTotals, current, names } = rows
  const currencies = [...new Set([...rows.daily.map((r) => r.currency), ...projectTotals.map((r) => r.currency), ...current.map((r) => r.currency)])].sort()
  const days = daysBetween(from, to) + 1

  const totalsBy = groupBy(projectTotals)
  const currentBy = groupBy(current)
  const projectIds = new Set([...totalsBy.keys(), ...currentBy.keys(), ...(req.projectId ? [req.projectId] : [])])
  const projects = [...projectIds]
    .filter((id) => names.has(id))
    .map((id) => {
      const cur = currentBy.get(id) ?? []
      return { project_id: id, name: names.get(id) ?? '', totals: totalsOf(totalsBy.get(id) ?? []), subscriptions: countsOf(cur), mrr: mrrOf(cur), credits_outstanding: credits.outstanding.get(id) ?? 0 }
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.project_id < b.project_id ? -1 : 1))

  const view = {
    mode: req.mode,
    from,
    to,
    totals: totalsOf(projectTotals),
    subscriptions: countsOf(current),
    mrr: mrrOf(current),
    daily: [] as never[],
    credits: creditsOf(credits, from, days),
    projects,
  }
  return { view, dailyJson: dailyJson(`${req.developerId}|${req.mode}|${req.projectId ?? ''}`, from, days, currencies, rows, caches.texts) }
}

/** The response text: `serialize` (the route's schema serializer) writes the view, and the series goes in its place. */
export function statsJson (serialize: (view: unknown) => string, stats: { view: unknown, dailyJson: string }): string {
  // The first `"daily":[]` is the view's own key (inside a JSON string every quote is escaped, and the
  // credits block, whose series may also be empty, comes after it in the schema's order).
  return serialize(stats.view).replace('"daily":[]', () => `"daily":[${stats.dailyJson}]`)
}
