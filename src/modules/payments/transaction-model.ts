import type { transactions } from '../../platform/db/schema.ts'
import { statsDiff, transactionContribution, type StatsDelta, type TransactionState } from '../stats/model.ts'

export type TransactionRow = typeof transactions.$inferSelect

export interface TransactionKeys {
  checkoutSessionId?: string | null | undefined
  paymentIntentId?: string | null | undefined
  invoiceId?: string | null | undefined
  chargeId?: string | null | undefined
}

/** A row as read for a guarded write: `version` is its xmin, which any later write changes. */
export type VersionedTransactionRow = TransactionRow & { version: string }

export const TRANSACTION_DATES = ['createdAt', 'updatedAt', 'succeededAt', 'failedAt', 'refundedAt'] as const

export type TransactionWrite = Pick<TransactionRow,
  'endUserId' | 'kind' | 'status' | 'amount' | 'amountRefunded' | 'currency' | 'description' | 'stripeCustomerId' | 'stripeCheckoutSessionId' |
  'stripePaymentIntentId' | 'stripeInvoiceId' | 'stripeChargeId' | 'stripeSubscriptionId' | 'lastEventAt' | 'succeededAt' | 'failedAt' | 'refundedAt'>

/** The merge an effect's plan computed: rows folded into `keep` (or a new row), the row's new state, the stats delta. */
export interface TransactionPlan {
  keep: VersionedTransactionRow | null
  others: VersionedTransactionRow[]
  write: TransactionWrite
  delta: StatsDelta
}


export type BaseStatus = 'pending' | 'failed' | 'canceled' | 'expired' | 'succeeded'

/**
 * Progress of a payment. A later state never regresses to an earlier one whatever order the events
 * come in (a late payment_failed cannot undo succeeded); refunded and partially_refunded are derived
 * from amount_refunded on top of succeeded.
 */
const RANK: Record<BaseStatus, number> = { pending: 0, failed: 1, canceled: 2, expired: 3, succeeded: 4 }

function baseStatusOf (status: string): BaseStatus {
  if (status === 'refunded' || status === 'partially_refunded') return 'succeeded'
  return status in RANK ? status as BaseStatus : 'pending'
}

/** What one event says about one payment. Every field merges commutatively, so event order does not matter. */
export interface TransactionFacts {
  keys: TransactionKeys
  /** 'invoice' facts come from invoice events and decide amount and description. */
  source: 'invoice' | 'payment_intent' | 'checkout' | 'charge'
  status?: BaseStatus
  amount?: number | null
  currency?: string | null
  description?: string | null
  endUserId?: string | null
  /** When no end user is named: the one our checkout linked to `customerId`, if any. */
  endUserFromCustomer?: boolean
  customerId?: string | null
  subscriptionId?: string | null
  succeededAt?: Date | null
  failedAt?: Date | null
  refundedAt?: Date | null
  amountRefunded?: number | null
  /** false: only update rows that exist (e.g. an expired checkout nobody paid). */
  createIfMissing: boolean
}

const minDate = (a: Date | null, b: Date | null | undefined): Date | null => (!b ? a : !a ? b : a <= b ? a : b)
const maxDate = (a: Date | null, b: Date | null | undefined): Date | null => (!b ? a : !a ? b : a >= b ? a : b)
const first = <T>(...values: Array<T | null | undefined>): T | null => {
  for (const v of values) if (v !== null && v !== undefined) return v
  return null
}

const stateOf = (r: TransactionWrite | TransactionRow): TransactionState => ({
  status: r.status, currency: r.currency, amount: r.amount, amountRefunded: r.amountRefunded,
  succeededAt: r.succeededAt, failedAt: r.failedAt, refundedAt: r.refundedAt,
})

/** The Stripe customer whose end user the read must also answer (only when the facts name no end user). */
export const customerToLookUp = (facts: TransactionFacts): string | null =>
  facts.endUserFromCustomer && !facts.endUserId ? facts.customerId ?? null : null

/** The merge of what was read (rows, and the customer's end user when the facts name none) and the facts. */
export const planTransactionRead = (rows: VersionedTransactionRow[], customerEndUserId: string | null, facts: TransactionFacts, eventCreated: number): TransactionPlan | null =>
  planTransaction(rows, customerEndUserId && !facts.endUserId ? { ...facts, endUserId: customerEndUserId } : facts, eventCreated)

/** The merge of the rows read and the facts (pure); null when it changes nothing. */
export function planTransaction (rows: VersionedTransactionRow[], facts: TransactionFacts, eventCreated: number): TransactionPlan | null {
  if (rows.length === 0 && !facts.createIfMissing) return null
  if (rows.length === 0 && (facts.amount == null || !facts.currency)) return null
  // The row the checkout service created (it carries the session id) survives a merge; otherwise the oldest.
  const keep = rows.find((r) => r.stripeCheckoutSessionId !== null) ?? rows[0]
  const others = rows.filter((r) => r !== keep)
  const ordered = keep ? [keep, ...others] : []

  let rank = RANK[facts.status ?? 'pending']
  let amount = facts.amount ?? null
  let amountRefunded = facts.amountRefunded ?? 0
  let succeededAt = facts.succeededAt ?? null
  let failedAt = facts.failedAt ?? null
  let refundedAt = facts.refundedAt ?? null
  let lastEventAt = eventCreated
  let invoiceAmount = facts.source === 'invoice' ? facts.amount ?? null : null
  for (const r of ordered) {
    rank = Math.max(rank, RANK[baseStatusOf(r.status)])
    amount = Math.max(amount ?? 0, r.amount)
    if (r.kind === 'invoice' && r.stripeInvoiceId) invoiceAmount ??= r.amount
    amountRefunded = Math.max(amountRefunded, r.amountRefunded)
    succeededAt = minDate(succeededAt, r.succeededAt)
    failedAt = minDate(failedAt, r.failedAt)
    refundedAt = maxDate(refundedAt, r.refundedAt)
    lastEventAt = Math.max(lastEventAt, r.lastEventAt)
  }
  if (succeededAt) rank = Math.max(rank, RANK.succeeded)
  const invoiceId = first(...ordered.map((r) => r.stripeInvoiceId), facts.keys.invoiceId)
  // An invoice's own total is the amount when there is one; otherwise the largest amount seen (they agree).
  const finalAmount = invoiceId && invoiceAmount !== null ? invoiceAmount : amount ?? 0
  const base = (Object.keys(RANK) as BaseStatus[]).find((s) => RANK[s] === rank) ?? 'pending'
  const refundedAmount = Math.min(amountRefunded, finalAmount)
  const status = base === 'succeeded' && refundedAmount > 0
    ? (refundedAmount >= finalAmount ? 'refunded' : 'partially_refunded')
    : base

  const descriptionFromInvoice = facts.source === 'invoice' ? facts.description ?? null : null
  const write: TransactionWrite = {
    kind: invoiceId ? 'invoice' : 'one_time',
    status,
    amount: finalAmount,
    amountRefunded: refundedAmount,
    currency: first(...ordered.map((r) => r.currency), facts.currency) ?? 'usd',
    description: first(descriptionFromInvoice, ...ordered.filter((r) => r.kind === 'invoice').map((r) => r.description), ...ordered.map((r) => r.description), facts.description)?.slice(0, 1000) ?? null,
    endUserId: first(...ordered.map((r) => r.endUserId), facts.endUserId),
    stripeCustomerId: first(...ordered.map((r) => r.stripeCustomerId), facts.customerId),
    stripeCheckoutSessionId: first(...ordered.map((r) => r.stripeCheckoutSessionId), facts.keys.checkoutSessionId),
    stripePaymentIntentId: first(...ordered.map((r) => r.stripePaymentIntentId), facts.keys.paymentIntentId),
    stripeInvoiceId: invoiceId,
    stripeChargeId: first(...ordered.map((r) => r.stripeChargeId), facts.keys.chargeId),
    stripeSubscriptionId: first(...ordered.map((r) => r.stripeSubscriptionId), facts.subscriptionId),
    lastEventAt,
    succeededAt,
    failedAt,
    refundedAt: refundedAmount > 0 ? refundedAt : null,
  }
  if (keep && others.length === 0 && sameRow(keep, write)) return null

  const delta = statsDiff([transactionContribution(stateOf(write))], ordered.map((r) => transactionContribution(stateOf(r))))
  return { keep: keep ?? null, others, write, delta }
}

const sameTime = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null)

function sameRow (r: TransactionRow, w: TransactionWrite): boolean {
  return r.kind === w.kind && r.status === w.status && r.amount === w.amount && r.amountRefunded === w.amountRefunded && r.currency === w.currency &&
    r.description === w.description && r.endUserId === w.endUserId && r.stripeCustomerId === w.stripeCustomerId &&
    r.stripeCheckoutSessionId === w.stripeCheckoutSessionId && r.stripePaymentIntentId === w.stripePaymentIntentId &&
    r.stripeInvoiceId === w.stripeInvoiceId && r.stripeChargeId === w.stripeChargeId && r.stripeSubscriptionId === w.stripeSubscriptionId &&
    sameTime(r.succeededAt, w.succeededAt) && sameTime(r.failedAt, w.failedAt) && sameTime(r.refundedAt, w.refundedAt)
}
