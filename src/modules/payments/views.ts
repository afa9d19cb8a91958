import type { subscriptions, transactions } from '../../platform/db/schema.ts'
import { isoOrNull } from '../../platform/time.ts'

type SubscriptionRow = typeof subscriptions.$inferSelect
type TransactionRow = typeof transactions.$inferSelect

/** A subscription as an end user (and the dashboard) may see it: named fields, never the row wholesale. */
export function subscriptionView (s: SubscriptionRow) {
  return {
    id: s.id,
    project_id: s.projectId,
    mode: s.mode,
    end_user_id: s.endUserId,
    stripe_customer_id: s.stripeCustomerId,
    stripe_subscription_id: s.stripeSubscriptionId,
    status: s.status,
    price_id: s.priceId,
    product_id: s.productId,
    quantity: s.quantity,
    amount: s.amount,
    currency: s.currency,
    interval: s.interval,
    interval_count: s.intervalCount,
    current_period_start: isoOrNull(s.currentPeriodStart),
    current_period_end: isoOrNull(s.currentPeriodEnd),
    trial_end: isoOrNull(s.trialEnd),
    cancel_at_period_end: s.cancelAtPeriodEnd,
    canceled_at: isoOrNull(s.canceledAt),
    created_at: s.createdAt.toISOString(),
    updated_at: s.updatedAt.toISOString(),
  }
}

export function transactionView (t: TransactionRow) {
  return {
    id: t.id,
    project_id: t.projectId,
    mode: t.mode,
    end_user_id: t.endUserId,
    kind: t.kind,
    status: t.status,
    amount: t.amount,
    amount_refunded: t.amountRefunded,
    currency: t.currency,
    description: t.description,
    stripe_checkout_session_id: t.stripeCheckoutSessionId,
    stripe_payment_intent_id: t.stripePaymentIntentId,
    stripe_invoice_id: t.stripeInvoiceId,
    stripe_charge_id: t.stripeChargeId,
    created_at: t.createdAt.toISOString(),
    succeeded_at: isoOrNull(t.succeededAt),
    refunded_at: isoOrNull(t.refundedAt),
  }
}
