/**
 * What one subscription or transaction row contributes to the aggregated stats. The payments plans
 * (modules/payments/subscription-model.ts, transaction-model.ts) apply `after - before` for every
 * row they change, and `stats:recompute` sums the same contributions over all rows (in SQL, with the
 * same integer formulas), so the two agree to the cent.
 */
import { utcDay } from '../../platform/time.ts'

export const SUBSCRIPTION_BUCKETS = ['active', 'trialing', 'past_due', 'canceled', 'incomplete', 'unpaid', 'paused'] as const
export type SubscriptionBucket = typeof SUBSCRIPTION_BUCKETS[number]

export interface DailyDelta {
  day: string
  currency: string
  gross: number
  refunded: number
  succeededCount: number
  failedCount: number
  newSubscriptions: number
  canceledSubscriptions: number
}

export interface CurrentDelta {
  currency: string
  active: number
  trialing: number
  pastDue: number
  canceled: number
  incomplete: number
  unpaid: number
  paused: number
  mrr: number
}

export interface StatsDelta { daily: DailyDelta[], current: CurrentDelta[] }

export interface SubscriptionState {
  status: string
  currency: string | null
  amount: number | null
  quantity: number
  interval: string | null
  intervalCount: number | null
  stripeCreatedAt: Date | null
  createdAt?: Date | null
  endedAt: Date | null
  canceledAt: Date | null
}

export interface TransactionState {
  status: string
  currency: string
  amount: number
  amountRefunded: number
  succeededAt: Date | null
  failedAt: Date | null
  refundedAt: Date | null
}

/** Month factor as an exact fraction: MRR = round(amount × quantity × num / den), half up. */
export function monthFraction (interval: string | null, intervalCount: number | null): { num: number, den: number } | null {
  const n = intervalCount && intervalCount > 0 ? intervalCount : 1
  switch (interval) {
    case 'month': return { num: 1, den: n }
    case 'year': return { num: 1, den: 12 * n }
    case 'week': return { num: 52, den: 12 * n }
    case 'day': return { num: 365, den: 12 * n }
    default: return null
  }
}

/** Integer MRR of one subscription; the SQL in stats-recompute.ts is the same formula. */
export function mrrOf (s: Pick<SubscriptionState, 'status' | 'amount' | 'quantity' | 'interval' | 'intervalCount'>): number {
  if (s.status !== 'active' && s.status !== 'past_due') return 0
  const f = monthFraction(s.interval, s.intervalCount)
  if (!f || s.amount === null) return 0
  const total = s.amount * s.quantity * f.num
  return Math.floor((2 * total + f.den) / (2 * f.den))
}

const emptyDaily = (day: string, currency: string): DailyDelta =>
  ({ day, currency, gross: 0, refunded: 0, succeededCount: 0, failedCount: 0, newSubscriptions: 0, canceledSubscriptions: 0 })
const emptyCurrent = (currency: string): CurrentDelta =>
  ({ currency, active: 0, trialing: 0, pastDue: 0, canceled: 0, incomplete: 0, unpaid: 0, paused: 0, mrr: 0 })

const bucketField: Record<SubscriptionBucket, keyof Omit<CurrentDelta, 'currency' | 'mrr'>> = {
  active: 'active', trialing: 'trialing', past_due: 'pastDue', canceled: 'canceled', incomplete: 'incomplete', unpaid: 'unpaid', paused: 'paused',
}

export function subscriptionContribution (s: SubscriptionState | null | undefined): StatsDelta {
  if (!s || !s.currency) return { daily: [], current: [] }
  const daily: DailyDelta[] = []
  const created = s.stripeCreatedAt ?? s.createdAt ?? null
  if (created) daily.push({ ...emptyDaily(utcDay(created), s.currency), newSubscriptions: 1 })
  if (s.status === 'canceled') {
    const ended = s.endedAt ?? s.canceledAt ?? created
    if (ended) daily.push({ ...emptyDaily(utcDay(ended), s.currency), canceledSubscriptions: 1 })
  }
  const current = emptyCurrent(s.currency)
  const field = (SUBSCRIPTION_BUCKETS as readonly string[]).includes(s.status) ? bucketField[s.status as SubscriptionBucket] : undefined
  if (field) current[field] = 1
  current.mrr = mrrOf(s)
  return { daily, current: [current] }
}

export function transactionContribution (t: TransactionState | null | undefined): StatsDelta {
  if (!t) return { daily: [], current: [] }
  const daily: DailyDelta[] = []
  if (t.succeededAt) daily.push({ ...emptyDaily(utcDay(t.succeededAt), t.currency), gross: t.amount, succeededCount: 1 })
  if (t.amountRefunded > 0) {
    const at = t.refundedAt ?? t.succeededAt
    if (at) daily.push({ ...emptyDaily(utcDay(at), t.currency), refunded: t.amountRefunded })
  }
  if (t.status === 'failed' && t.failedAt) daily.push({ ...emptyDaily(utcDay(t.failedAt), t.currency), failedCount: 1 })
  return { daily, current: [] }
}

const dailyNumbers = ['gross', 'refunded', 'succeededCount', 'failedCount', 'newSubscriptions', 'canceledSubscriptions'] as const
const currentNumbers = ['active', 'trialing', 'pastDue', 'canceled', 'incomplete', 'unpaid', 'paused', 'mrr'] as const

/** Sum of `plus` minus sum of `minus`, with entries that net to zero dropped (no write for them). */
export function statsDiff (plus: StatsDelta[], minus: StatsDelta[]): StatsDelta {
  const daily = new Map<string, DailyDelta>()
  const current = new Map<string, CurrentDelta>()
  const add = (d: StatsDelta, sign: 1 | -1) => {
    for (const e of d.daily) {
      // Currency, then day: the month rows the stats_daily trigger updates are then locked in one order too.
      const key = `${e.currency}|${e.day}`
      const acc = daily.get(key) ?? emptyDaily(e.day, e.currency)
      for (const f of dailyNumbers) acc[f] += sign * e[f]
      daily.set(key, acc)
    }
    for (const e of d.current) {
      const acc = current.get(e.currency) ?? emptyCurrent(e.currency)
      for (const f of currentNumbers) acc[f] += sign * e[f]
      current.set(e.currency, acc)
    }
  }
  for (const d of plus) add(d, 1)
  for (const d of minus) add(d, -1)
  // Sorted by key: concurrent transactions then lock stats rows in the same order (no deadlock).
  return {
    daily: [...daily.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v).filter((e) => dailyNumbers.some((f) => e[f] !== 0)),
    current: [...current.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v).filter((e) => currentNumbers.some((f) => e[f] !== 0)),
  }
}
