import { Type, type Static } from '@sinclair/typebox'
import { IdempotencyKeyHeader, ListOf, Mode, Timestamp } from '../../platform/http/schemas.ts'
import { SubscriptionView, TransactionView } from './schemas.ts'

export const TRANSACTION_STATUSES = ['pending', 'succeeded', 'failed', 'canceled', 'expired', 'refunded', 'partially_refunded'] as const
export const SUBSCRIPTION_STATUSES = ['active', 'trialing', 'past_due', 'canceled', 'incomplete', 'incomplete_expired', 'unpaid', 'paused'] as const

const literals = <T extends readonly string[]>(values: T) => Type.Union(values.map((v) => Type.Literal(v)))

const listFilters = {
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  starting_after: Type.Optional(Type.String({ format: 'uuid', description: 'id of the last row of the previous page' })),
  test_mode: Type.Boolean({ default: true, description: 'true for test-mode rows, false for live' }),
  customer: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'A Stripe customer id (cus_…) or your end-user id' })),
  // Fastify's querystring parser keeps the brackets: `created[gte]` is one literal key.
  'created[gte]': Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after this instant (ISO 8601)' })),
  'created[lte]': Type.Optional(Type.String({ format: 'date-time', description: 'Created at or before this instant (ISO 8601)' })),
}
const projectFilter = { project_id: Type.Optional(Type.String({ format: 'uuid', description: 'One of your projects (404 otherwise)' })) }

export const TransactionStatus = literals(TRANSACTION_STATUSES)
export const SubscriptionStatus = literals(SUBSCRIPTION_STATUSES)

export const ProjectTransactionQuery = Type.Object({ ...listFilters, status: Type.Optional(TransactionStatus) }, { additionalProperties: false })
export const ProjectSubscriptionQuery = Type.Object({ ...listFilters, status: Type.Optional(SubscriptionStatus) }, { additionalProperties: false })
export const DeveloperTransactionQuery = Type.Object({ ...listFilters, ...projectFilter, status: Type.Optional(TransactionStatus) }, { additionalProperties: false })
export const DeveloperSubscriptionQuery = Type.Object({ ...listFilters, ...projectFilter, status: Type.Optional(SubscriptionStatus) }, { additionalProperties: false })

const projectName = Type.Object({ project_name: Type.String({ description: 'Name of the project the row belongs to' }) })
export const DashboardTransaction = Type.Composite([TransactionView, projectName])
const duplicateActive = Type.Object({
  duplicate_active: Type.Boolean({ description: 'true when this subscription bills while another of the same end user (or Stripe customer) in this project and mode bills too: the user pays twice' }),
})
export const DashboardSubscription = Type.Composite([SubscriptionView, projectName, duplicateActive])
export const DashboardTransactionList = ListOf(DashboardTransaction)
export const DashboardSubscriptionList = ListOf(DashboardSubscription)

const DateOnly = Type.String({ format: 'date', description: 'UTC date YYYY-MM-DD' })

export const StatsQuery = Type.Object({
  test_mode: Type.Boolean({ default: true }),
  project_id: Type.Optional(Type.String({ format: 'uuid', description: 'One of your projects (404 otherwise)' })),
  from: Type.Optional(Type.String({ ...DateOnly, description: 'First UTC day, inclusive (default: 29 days before `to`)' })),
  to: Type.Optional(Type.String({ ...DateOnly, description: 'Last UTC day, inclusive (default: today); at most two years after `from`' })),
}, { additionalProperties: false })

const Amount = Type.Integer({ description: 'Minor units of the currency (jpy has none: 500 is ¥500)' })
const CurrencyTotals = Type.Object({
  currency: Type.String(),
  gross: Amount,
  refunded: Amount,
  net: Amount,
  succeeded_count: Type.Integer(),
  failed_count: Type.Integer(),
})
const SubscriptionCounts = Type.Object({
  active: Type.Integer(), trialing: Type.Integer(), past_due: Type.Integer(), canceled: Type.Integer(),
  incomplete: Type.Integer(), unpaid: Type.Integer(), paused: Type.Integer(),
}, { description: 'Current subscriptions by status (now, whatever the range)' })
const MrrEntry = Type.Object({ currency: Type.String(), amount: Amount })

export const StatsView = Type.Object({
  mode: Mode,
  from: DateOnly,
  to: DateOnly,
  totals: Type.Array(CurrencyTotals, { description: 'Per currency over the range: a payment counts on the UTC day it succeeded, a refund on the day it was refunded' }),
  subscriptions: SubscriptionCounts,
  mrr: Type.Array(MrrEntry, { description: 'Active and past-due subscriptions normalised to a month, trials excluded' }),
  daily: Type.Array(Type.Object({
    date: DateOnly,
    currency: Type.String(),
    gross: Amount,
    refunded: Amount,
    succeeded_count: Type.Integer(),
    failed_count: Type.Integer(),
    new_subscriptions: Type.Integer(),
    canceled_subscriptions: Type.Integer(),
  }), { description: 'Every day of the range (zero-filled) for every currency the range or the current subscriptions involve' }),
  credits: Type.Object({
    granted: Type.Integer({ description: 'Credits granted in the range (purchases, plan periods, trials, positive adjustments, bonuses)' }),
    consumed: Type.Integer({ description: 'Credits spent in the range (consumes, committed reservations, negative adjustments)' }),
    expired: Type.Integer({ description: 'Credits expired or reset at a new period in the range' }),
    clawed_back: Type.Integer({ description: 'Credits taken back by refunds in the range' }),
    outstanding: Type.Integer({ description: 'Credits end users hold now (what is still owed to them)' }),
    daily: Type.Array(Type.Object({
      date: DateOnly,
      credits_granted: Type.Integer(),
      credits_consumed: Type.Integer(),
      credits_expired: Type.Integer(),
      credits_clawed_back: Type.Integer(),
    }), { description: 'Every day of the range (zero-filled), or empty when the range moved no credit; credits have no currency, so this is a series of its own' }),
  }),
  projects: Type.Array(Type.Object({
    project_id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    totals: Type.Array(CurrencyTotals),
    subscriptions: SubscriptionCounts,
    mrr: Type.Array(MrrEntry),
    credits_outstanding: Type.Integer({ description: 'Credits the project\'s end users hold now' }),
  }), { description: 'Projects with money in the range or subscriptions now' }),
})

export const RefundReason = Type.Union([Type.Literal('duplicate'), Type.Literal('fraudulent'), Type.Literal('requested_by_customer')])

export const RefundBody = Type.Object({
  transaction_id: Type.String({ format: 'uuid' }),
  amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 99_999_999_999, description: 'Minor units; default everything not yet refunded' })),
  reason: Type.Optional(RefundReason),
}, { additionalProperties: false })
export type RefundBody = Static<typeof RefundBody>

export const RefundHeaders = IdempotencyKeyHeader('Repeat with the same key to get the same refund; without one, repeating the same amount before its charge.refunded arrives also returns the same refund')

export const RefundAccepted = Type.Object({
  refund_id: Type.String(),
  status: Type.String({ description: 'Stripe\'s refund status (pending, succeeded, failed, …)' }),
  amount: Amount,
  currency: Type.String(),
  transaction_id: Type.String({ format: 'uuid' }),
  mode: Mode,
  created_at: Timestamp,
  applied: Type.Literal(false, { description: 'Always false: the transaction and the stats change when Stripe\'s charge.refunded arrives' }),
  message: Type.String(),
})
