import type Stripe from 'stripe'
import type { CREDIT_BUCKETS, LEDGER_KINDS } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { DAY_MS, unixToIso } from '../../platform/time.ts'

/**
 * What Stripe events mean for credits, as operations the ledger engine (the credits_* functions of
 * migrations/0010) applies in the statement that records the event. The rules of how many credits a
 * grant holds and which source names it live here; the wallet's mechanics (spending order, resets,
 * debt, take-backs) live in SQL, where each change locks its wallet.
 */

interface Owner { project: string, mode: Mode }
/** The end user, or the Stripe customer our checkout linked to one (resolved in SQL). */
interface Who { end_user: string | null, customer: string | null }

export type CreditOp =
  | Owner & Who & { op: 'purchase', amount: number, source: string, payment_intent: string | null, paid: number | null, expires_at: string | null, description: string | null }
  | Owner & Who & { op: 'plan_invoice', price: string, quantity: number, source: string, period_start: string | null, period_end: string | null, payment_intent: string | null, paid: number | null, subscription: string | null, description?: string }
  | Owner & Who & { op: 'trial', price: string, quantity: number, source: string, period_start: string | null, period_end: string | null, subscription: string }
  | Owner & { op: 'refund', payment_intent: string, refunded: number, paid: number, description: string }
  | Owner & Who & { op: 'close', source: string, subscription: string, description: string }

/** Metadata keys our checkout and payment intents carry for a credits purchase (strings, as Stripe keeps them). */
export const PURCHASE_METADATA = {
  transactionId: 'transaction_id',
  credits: 'credits',
  expiresInDays: 'credits_expires_in_days',
} as const

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const MAX_CREDITS = 1_000_000_000_000

/** What a purchase promised, read back from the metadata set when it was created; null for a purchase of no credits. */
export function purchaseOf (metadata: Stripe.Metadata | null | undefined): { transactionId: string, credits: number, expiresInDays: number | null } | null {
  if (!metadata) return null
  const transactionId = metadata[PURCHASE_METADATA.transactionId]
  const credits = Number(metadata[PURCHASE_METADATA.credits])
  const days = metadata[PURCHASE_METADATA.expiresInDays]
  if (typeof transactionId !== 'string' || !UUID.test(transactionId)) return null
  if (!Number.isSafeInteger(credits) || credits <= 0 || credits > MAX_CREDITS) return null
  const expiresInDays = days === undefined || days === '' ? null : Number(days)
  if (expiresInDays !== null && (!Number.isSafeInteger(expiresInDays) || expiresInDays <= 0)) return null
  return { transactionId, credits, expiresInDays }
}


/** The metadata a purchase of `credits` carries (checkout and payment intents set it; the grant reads it back). */
export const purchaseMetadata = (transactionId: string, credits: number, expiresInDays: number | null): Record<string, string> => ({
  [PURCHASE_METADATA.transactionId]: transactionId,
  [PURCHASE_METADATA.credits]: String(credits),
  ...(expiresInDays ? { [PURCHASE_METADATA.expiresInDays]: String(expiresInDays) } : {}),
})

/**
 * A succeeded purchase of credits: one lot, named by its transaction, so checkout.session.completed
 * and payment_intent.succeeded for the same payment grant once. Expiry counts from when it was paid.
 */
export function purchaseOp (owner: Owner, who: Who, metadata: Stripe.Metadata | null | undefined, payment: { paymentIntentId: string | null, paid: number | null, paidAt: Date, description: string | null }): CreditOp | null {
  const purchase = purchaseOf(metadata)
  if (!purchase || (!who.end_user && !who.customer)) return null
  return {
    op: 'purchase',
    ...owner,
    ...who,
    amount: purchase.credits,
    source: `transaction:${purchase.transactionId}`,
    payment_intent: payment.paymentIntentId,
    paid: payment.paid,
    expires_at: purchase.expiresInDays ? new Date(payment.paidAt.getTime() + purchase.expiresInDays * DAY_MS).toISOString() : null,
    description: payment.description,
  }
}

const iso = (unix: number | null | undefined): string | null => (typeof unix === 'number' ? unixToIso(unix) : null)

/** A line's or item's price id: `price` (an id or an object), or the `plan` of API versions before prices. */
type Priced = { price?: string | { id?: string } | null, plan?: { id?: string } | null }
const priceIdOf = (x: Priced | null | undefined): string | undefined => {
  const price = typeof x?.price === 'string' ? x.price : x?.price?.id
  return price ?? x?.plan?.id
}

/**
 * The recurring line of a subscription invoice: its price, quantity and period (current and older API
 * versions). Proration lines are no plan's period: a plan change's invoice grants nothing (the change
 * itself tops the period up, planChangeOp), and a renewal that carries prorations grants its new period.
 */
export function planLineOf (invoice: Stripe.Invoice): { price: string, quantity: number, start: number | null, end: number | null } | null {
  for (const line of invoice.lines?.data ?? []) {
    const legacy = line as unknown as Priced & { proration?: boolean }
    if (line.parent?.subscription_item_details?.proration === true || legacy.proration === true) continue
    const id = priceIdOf({ price: line.pricing?.price_details?.price }) ?? priceIdOf(legacy)
    if (!id) continue
    return { price: id, quantity: line.quantity ?? 1, start: line.period?.start ?? null, end: line.period?.end ?? null }
  }
  return null
}

/**
 * A paid invoice of a subscription: the plan's credits for its period (nothing when the price is no
 * plan). It names its subscription, so an invoice delivered after the subscription's end grants nothing
 * that stays.
 */
export function planInvoiceOp (owner: Owner, who: Who, invoice: Stripe.Invoice, paymentIntentId: string | null, subscriptionId: string | null): CreditOp | null {
  if (!invoice.id || (!who.end_user && !who.customer)) return null
  const line = planLineOf(invoice)
  if (!line) return null
  return {
    op: 'plan_invoice',
    ...owner,
    ...who,
    price: line.price,
    quantity: line.quantity,
    source: `invoice:${invoice.id}`,
    period_start: iso(line.start),
    period_end: iso(line.end),
    payment_intent: paymentIntentId,
    paid: invoice.total,
    subscription: subscriptionId,
  }
}

/** A subscription's first item: its price (or legacy plan), quantity and current period (on the item since 2025-03-31, on the subscription before). */
function planItemOf (sub: Stripe.Subscription): { price: string, quantity: number, start: number | null, end: number | null } | null {
  const item = sub.items?.data?.[0]
  const price = priceIdOf(item as Priced | undefined)
  if (!price) return null
  const legacy = sub as unknown as { current_period_start?: number, current_period_end?: number }
  return { price, quantity: item?.quantity ?? 1, start: item?.current_period_start ?? legacy.current_period_start ?? null, end: item?.current_period_end ?? legacy.current_period_end ?? null }
}

/** A subscription seen trialing: the plan's trial credits, once per subscription. */
export function trialOp (owner: Owner, who: Who, sub: Stripe.Subscription): CreditOp | null {
  if (sub.status !== 'trialing' || (!who.end_user && !who.customer)) return null
  const item = planItemOf(sub)
  if (!item) return null
  return { op: 'trial', ...owner, ...who, price: item.price, quantity: item.quantity, source: `trial:${sub.id}`, period_start: iso(sub.trial_start), period_end: iso(sub.trial_end), subscription: sub.id }
}

/**
 * Whether previous_attributes show another price or quantity than the item's now. A renewal's update
 * names the items too (their periods moved) with the same price: that is no change of plan.
 */
function planChanged (previous: Record<string, unknown>, now: { price: string, quantity: number }): boolean {
  const items = previous.items as { data?: Array<Priced & { quantity?: number }> } | undefined
  const before = items?.data?.[0]
  if (before) {
    const price = priceIdOf(before)
    if ((price !== undefined && price !== now.price) || (before.quantity !== undefined && before.quantity !== now.quantity)) return true
  }
  const plan = previous.plan as { id?: string } | undefined
  return (plan?.id !== undefined && plan.id !== now.price) || (typeof previous.quantity === 'number' && previous.quantity !== now.quantity)
}

/**
 * An active subscription whose price or quantity changed (the event's previous_attributes hold the
 * old ones): the current period is topped up to the new plan's credits. The engine
 * grants credits_per_period × quantity minus what the period's monthly lots already hold, so an
 * upgrade grants the difference at once and a downgrade grants nothing (the next paid invoice grants
 * the smaller plan). A change that restarts the period (monthly ↔ yearly) grants the new period.
 * Source: one per subscription, period, price and quantity, so a change back and forth grants once.
 */
export function planChangeOp (owner: Owner, who: Who, sub: Stripe.Subscription, previous: Record<string, unknown> | null | undefined): CreditOp | null {
  if (sub.status !== 'active' || (!who.end_user && !who.customer) || !previous) return null
  const item = planItemOf(sub)
  if (!item || item.start === null || !planChanged(previous, item)) return null
  return {
    op: 'plan_invoice',
    ...owner,
    ...who,
    price: item.price,
    quantity: item.quantity,
    source: `plan_change:${sub.id}:${item.start}:${item.price}:${item.quantity}`,
    period_start: iso(item.start),
    period_end: iso(item.end),
    payment_intent: null,
    paid: null,
    subscription: sub.id,
    description: 'plan change',
  }
}

/** A deleted subscription: its monthly credits expire, and so do its grants delivered after it (the engine remembers the end). */
export const closeMonthlyOp = (owner: Owner, who: Who, subscriptionId: string): CreditOp | null =>
  who.end_user || who.customer ? { op: 'close', ...owner, ...who, source: `subscription:${subscriptionId}`, subscription: subscriptionId, description: 'subscription ended' } : null

/** A refund (cumulative) of a payment: each lot it paid for gives back its share. */
export const refundOp = (owner: Owner, paymentIntentId: string | null, refunded: number, paid: number): CreditOp | null =>
  paymentIntentId && refunded > 0 && paid > 0 ? { op: 'refund', ...owner, payment_intent: paymentIntentId, refunded, paid, description: 'refund' } : null

/** The wallet an operation locks (a refund: the payment's, whose wallet SQL finds), for one lock order everywhere. */
export const walletKeyOf = (op: CreditOp): string =>
  op.op === 'refund' ? `${op.project}|${op.mode}|pi:${op.payment_intent}` : `${op.project}|${op.mode}|${op.end_user !== null ? `u:${op.end_user}` : `c:${op.customer ?? ''}`}`

/** A ledger entry as the database returns it (bigints may come back as strings). */
export interface LedgerRow {
  id: string
  seq: number | string
  kind: typeof LEDGER_KINDS[number]
  bucket: typeof CREDIT_BUCKETS[number] | null
  amount: number | string
  monthly_after: number | string
  purchased_after: number | string
  bonus_after: number | string
  reserved_after: number | string
  debt_after: number | string
  lot_id: string | null
  source: string | null
  description: string | null
  created_at: string | Date
}
