import type { Executor } from '../db/client.ts'
import { badRequest } from '../lib/errors.ts'
import type { Mode } from '../lib/stripe.ts'
import { projectNames } from '../repositories/dashboard.ts'
import { readCurrentAggregates, readDailyAggregates, type CurrentAggregate, type DailyAggregate } from '../repositories/stats-read.ts'

/** Default window: the last 30 UTC days, today included. */
export const DEFAULT_RANGE_DAYS = 30
/** Longest window: two years (731 days between `from` and `to`, so a leap year fits). */
export const MAX_RANGE_DAYS = 731

const DAY_MS = 86_400_000
const DATE = /^\d{4}-\d{2}-\d{2}$/

const parseDay = (value: string, field: string): number => {
  const ms = Date.parse(`${value}T00:00:00Z`)
  if (!DATE.test(value) || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) {
    throw badRequest('invalid_date', `${field} must be a calendar date YYYY-MM-DD`)
  }
  return ms
}
const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/** The inclusive [from, to] window of a request: defaults, order and the two-year bound. */
export function statsRange (query: { from?: string | undefined, to?: string | undefined }, now = new Date()): { from: string, to: string } {
  const toMs = query.to ? parseDay(query.to, 'to') : parseDay(dayOf(now.getTime()), 'to')
  const fromMs = query.from ? parseDay(query.from, 'from') : toMs - (DEFAULT_RANGE_DAYS - 1) * DAY_MS
  if (fromMs > toMs) throw badRequest('invalid_date_range', '`from` must not be after `to`')
  if ((toMs - fromMs) / DAY_MS > MAX_RANGE_DAYS) throw badRequest('date_range_too_long', `The range may span at most two years (${MAX_RANGE_DAYS} days between from and to)`)
  return { from: dayOf(fromMs), to: dayOf(toMs) }
}

interface Totals { currency: string, gross: number, refunded: number, net: number, succeeded_count: number, failed_count: number }
interface SubscriptionCounts { active: number, trialing: number, past_due: number, canceled: number, incomplete: number, unpaid: number, paused: number }
interface Mrr { currency: string, amount: number }

const byCurrency = <T extends { currency: string }>(a: T, b: T) => (a.currency < b.currency ? -1 : a.currency > b.currency ? 1 : 0)
const emptyCounts = (): SubscriptionCounts => ({ active: 0, trialing: 0, past_due: 0, canceled: 0, incomplete: 0, unpaid: 0, paused: 0 })

function totalsOf (rows: DailyAggregate[]): Totals[] {
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

export interface StatsRequest { developerId: string, mode: Mode, projectId?: string | undefined, from?: string | undefined, to?: string | undefined }

/**
 * The dashboard's stats, from the stats rows only. `daily` has one entry per day of the range and
 * per currency that the range or the current subscriptions involve, zero-filled; `projects` lists
 * every project with money in the range or subscriptions now (and the filtered project always).
 */
export async function readDashboardStats (db: Executor, req: StatsRequest, now = new Date()) {
  const { from, to } = statsRange(req, now)
  const scope = { developerId: req.developerId, mode: req.mode, projectId: req.projectId }
  const [daily, current] = await Promise.all([readDailyAggregates(db, { ...scope, from, to }), readCurrentAggregates(db, scope)])
  const perDay = daily.filter((r) => !r.byProject)
  const perProject = daily.filter((r) => r.byProject)

  const currencies = [...new Set([...daily.map((r) => r.currency), ...current.map((r) => r.currency)])].sort()
  const index = new Map(perDay.map((r) => [`${r.day ?? ''}|${r.currency}`, r]))
  const series = []
  for (let ms = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); ms <= end; ms += DAY_MS) {
    const date = dayOf(ms)
    for (const currency of currencies) {
      const r = index.get(`${date}|${currency}`)
      series.push({
        date, currency,
        gross: r?.gross ?? 0, refunded: r?.refunded ?? 0, succeeded_count: r?.succeededCount ?? 0, failed_count: r?.failedCount ?? 0,
        new_subscriptions: r?.newSubscriptions ?? 0, canceled_subscriptions: r?.canceledSubscriptions ?? 0,
      })
    }
  }

  const projectIds = [...new Set([...perProject.map((r) => r.projectId ?? ''), ...current.map((r) => r.projectId), ...(req.projectId ? [req.projectId] : [])])].filter((id) => id !== '')
  const names = await projectNames(db, req.developerId, projectIds)
  const projects = projectIds
    .filter((id) => names.has(id))
    .map((id) => {
      const cur = current.filter((r) => r.projectId === id)
      return { project_id: id, name: names.get(id) ?? '', totals: totalsOf(perProject.filter((r) => r.projectId === id)), subscriptions: countsOf(cur), mrr: mrrOf(cur) }
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.project_id < b.project_id ? -1 : 1))

  return {
    mode: req.mode,
    from,
    to,
    totals: totalsOf(perProject),
    subscriptions: countsOf(current),
    mrr: mrrOf(current),
    daily: series,
    projects,
  }
}
