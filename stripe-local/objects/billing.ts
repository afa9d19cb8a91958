import type { JsonObject } from '../json.ts'
import type { InvoiceLineRec, InvoicePaymentRec, InvoiceRec, SubscriptionItemRec, SubscriptionRec } from '../store.ts'
import { renderPlan, renderPrice } from './catalog.ts'
import { emptyAddress, need, type RenderCtx } from './context.ts'

export function renderSubscriptionItem (item: SubscriptionItemRec, sub: SubscriptionRec, ctx: RenderCtx): JsonObject {
  const price = need(ctx, 'price', item.price)
  return {
    id: item.id,
    object: 'subscription_item',
    billing_thresholds: null,
    created: item.created,
    // the current API keeps the billing period on each item, not on the subscription
    current_period_end: item.periodEnd,
    current_period_start: item.periodStart,
    discounts: [],
    metadata: { ...item.metadata },
    plan: renderPlan(price),
    price: renderPrice(price),
    quantity: item.quantity,
    subscription: sub.id,
    tax_rates: [],
  }
}

export function renderSubscription (s: SubscriptionRec, ctx: RenderCtx): JsonObject {
  return {
    id: s.id,
    object: 'subscription',
    application: null,
    application_fee_percent: null,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null },
    billing_cycle_anchor: s.billingCycleAnchor,
    billing_cycle_anchor_config: null,
    billing_mode: { flexible: null, type: 'classic' },
    billing_schedules: [],
    billing_thresholds: null,
    cancel_at: s.cancelAt,
    cancel_at_period_end: s.cancelAtPeriodEnd,
    canceled_at: s.canceledAt,
    cancellation_details: { comment: null, feedback: null, reason: s.cancellationReason },
    collection_method: 'charge_automatically',
    created: s.created,
    currency: s.currency,
    customer: s.customer,
    customer_account: null,
    days_until_due: null,
    default_payment_method: s.defaultPaymentMethod,
    default_source: null,
    default_tax_rates: [],
    description: s.description,
    discounts: [],
    ended_at: s.endedAt,
    invoice_settings: { account_tax_ids: null, issuer: { type: 'self' } },
    items: {
      object: 'list',
      data: s.items.map(i => renderSubscriptionItem(i, s, ctx)),
      has_more: false,
      total_count: s.items.length,
      url: `/v1/subscription_items?subscription=${s.id}`,
    },
    latest_invoice: s.latestInvoice,
    livemode: s.livemode,
    managed_payments: null,
    metadata: { ...s.metadata },
    next_pending_invoice_item_invoice: null,
    on_behalf_of: null,
    pause_collection: null,
    payment_settings: { payment_method_options: null, payment_method_types: null, save_default_payment_method: 'off' },
    pending_invoice_item_interval: null,
    pending_setup_intent: null,
    pending_update: null,
    schedule: null,
    start_date: s.startDate,
    status: s.status,
    test_clock: null,
    transfer_data: null,
    trial_end: s.trialEnd,
    trial_settings: { end_behavior: { missing_payment_method: 'create_invoice' } },
    trial_start: s.trialStart,
  }
}

export const invoiceTotal = (inv: InvoiceRec): number => inv.lines.reduce((sum, l) => sum + l.amount, 0)

function renderInvoiceLine (l: InvoiceLineRec, inv: InvoiceRec): JsonObject {
  return {
    id: l.id,
    object: 'line_item',
    amount: l.amount,
    currency: inv.currency,
    description: l.description,
    discount_amounts: [],
    discountable: true,
    discounts: [],
    invoice: inv.id,
    livemode: inv.livemode,
    metadata: {},
    parent: {
      invoice_item_details: null,
      subscription_item_details: {
        invoice_item: null,
        proration: l.proration,
        proration_details: { credited_items: null },
        subscription: inv.subscription,
        subscription_item: l.subscriptionItem,
      },
      type: 'subscription_item_details',
    },
    period: { end: l.periodEnd, start: l.periodStart },
    pretax_credit_amounts: [],
    pricing: { price_details: { price: l.price, product: l.product }, type: 'price_details', unit_amount_decimal: String(l.quantity ? Math.round(l.amount / l.quantity) : l.amount) },
    quantity: l.quantity,
    quantity_decimal: String(l.quantity),
    subscription: inv.subscription,
    subtotal: l.amount,
    taxes: [],
  }
}

export function renderInvoicePayment (p: InvoicePaymentRec, inv: InvoiceRec): JsonObject {
  return {
    id: p.id,
    object: 'invoice_payment',
    amount_paid: p.status === 'paid' ? p.amount : null,
    amount_requested: p.amount,
    created: p.created,
    currency: inv.currency,
    invoice: inv.id,
    is_default: true,
    livemode: inv.livemode,
    payment: { payment_intent: p.paymentIntent, type: 'payment_intent' },
    status: p.status,
    status_transitions: { canceled_at: null, paid_at: p.paidAt },
  }
}

export const renderInvoicePayments = (inv: InvoiceRec): JsonObject => ({
  object: 'list',
  data: inv.payments.map(p => renderInvoicePayment(p, inv)),
  has_more: false,
  url: `/v1/invoice_payments?invoice=${inv.id}`,
})

export function renderInvoice (inv: InvoiceRec, ctx: RenderCtx): JsonObject {
  const total = invoiceTotal(inv)
  const paid = inv.status === 'paid' ? total : 0
  const subscription = inv.subscription ? ctx.st.get('subscription', inv.subscription) : undefined
  return {
    id: inv.id,
    object: 'invoice',
    account_country: 'US',
    account_name: 'Stripe local',
    account_tax_ids: null,
    amount_due: total,
    amount_overpaid: 0,
    amount_paid: paid,
    amount_remaining: total - paid,
    amount_shipping: 0,
    application: null,
    attempt_count: inv.attemptCount,
    attempted: inv.attempted,
    auto_advance: inv.autoAdvance,
    automatic_tax: { disabled_reason: null, enabled: false, liability: null, provider: null, status: null },
    automatically_finalizes_at: null,
    billing_reason: inv.billingReason,
    collection_method: 'charge_automatically',
    created: inv.created,
    currency: inv.currency,
    custom_fields: null,
    customer: inv.customer,
    customer_account: null,
    customer_address: emptyAddress(),
    customer_email: inv.customerEmail,
    customer_name: inv.customerName,
    customer_phone: null,
    customer_shipping: null,
    customer_tax_exempt: 'none',
    customer_tax_ids: [],
    default_payment_method: null,
    default_source: null,
    default_tax_rates: [],
    description: null,
    discounts: [],
    due_date: null,
    effective_at: inv.finalizedAt,
    ending_balance: inv.status === 'draft' ? null : 0,
    footer: null,
    from_invoice: null,
    hosted_invoice_url: inv.status === 'draft' ? null : `${ctx.baseUrl}/_local/invoices/${inv.id}`,
    invoice_pdf: null,
    issuer: { type: 'self' },
    last_finalization_error: null,
    latest_revision: null,
    lines: { object: 'list', data: inv.lines.map(l => renderInvoiceLine(l, inv)), has_more: false, total_count: inv.lines.length, url: `/v1/invoices/${inv.id}/lines` },
    livemode: inv.livemode,
    metadata: { ...inv.metadata },
    next_payment_attempt: inv.nextPaymentAttempt,
    number: inv.number,
    on_behalf_of: null,
    // the current API links an invoice to its subscription only through `parent`
    parent: inv.subscription
      ? { quote_details: null, subscription_details: { metadata: { ...(subscription?.metadata ?? inv.subscriptionMetadata) }, subscription: inv.subscription }, type: 'subscription_details' }
      : null,
    payment_settings: { default_mandate: null, payment_method_options: null, payment_method_types: null },
    period_end: inv.periodEnd,
    period_start: inv.periodStart,
    post_payment_credit_notes_amount: 0,
    pre_payment_credit_notes_amount: 0,
    receipt_number: null,
    rendering: null,
    shipping_cost: null,
    shipping_details: null,
    starting_balance: 0,
    statement_descriptor: null,
    status: inv.status,
    status_transitions: { finalized_at: inv.finalizedAt, marked_uncollectible_at: null, paid_at: inv.paidAt, voided_at: null },
    subtotal: total,
    subtotal_excluding_tax: total,
    test_clock: null,
    total,
    total_discount_amounts: [],
    total_excluding_tax: total,
    total_pretax_credit_amounts: [],
    total_taxes: [],
    webhooks_delivered_at: inv.finalizedAt,
  }
}
