import { invalidParam, invalidRequest } from './errors.ts'
import { AUTOMATIC, createOpCtx, type OpCtx } from './events.ts'
import type { Delivery } from './delivery.ts'
import { newId, randomAlnum } from './ids.ts'
import { isObject, type JsonObject } from './json.ts'
import { invoiceTotal } from './objects/billing.ts'
import { sessionAmount } from './objects/checkout.ts'
import { need } from './objects/context.ts'
import { render } from './objects/index.ts'
import type {
  Account, Card, CardError, ChargeRec, CheckoutLine, CheckoutSessionRec, CustomerRec, InvoiceLineRec, InvoiceRec,
  Metadata, Mode, PaymentIntentRec, PaymentMethodRec, Recurring, RefundRec, SubscriptionItemRec, SubscriptionRec,
} from './store.ts'

/** Stripe's magic test payment methods; anything else unknown is refused like a bad id. */
const CARDS: Record<string, Card> = {
  pm_card_visa: { brand: 'visa', last4: '4242', funding: 'credit', declineCode: null },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', funding: 'credit', declineCode: null },
  pm_card_amex: { brand: 'amex', last4: '8431', funding: 'credit', declineCode: null },
  pm_card_visa_debit: { brand: 'visa', last4: '5556', funding: 'debit', declineCode: null },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', funding: 'credit', declineCode: 'generic_decline' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', funding: 'credit', declineCode: 'insufficient_funds' },
  pm_card_chargeCustomerFail: { brand: 'visa', last4: '0341', funding: 'credit', declineCode: 'generic_decline' },
}
const DECLINE_MESSAGES: Record<string, string> = { insufficient_funds: 'Your card has insufficient funds.' }

/** previous_attributes: the changed keys with their old values, nested objects narrowed to what changed. */
export function changed (before: JsonObject, after: JsonObject): JsonObject {
  const prev: JsonObject = {}
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[key] ?? null
    const b = after[key] ?? null
    if (JSON.stringify(a) === JSON.stringify(b)) continue
    prev[key] = isObject(a) && isObject(b) && a.object !== 'list' ? changed(a, b) : a
    if (isObject(a) && isObject(b) && a.object === 'list') prev[key] = { data: a.data ?? [] }
  }
  return prev
}

/** Mutates a record and emits `type` with previous_attributes computed from the rendered object. */
function update<R extends SubscriptionRec | CustomerRec | ChargeRec> (ctx: OpCtx, rec: R, type: string, mutate: (r: R) => void): void {
  const before = render(rec, ctx)
  mutate(rec)
  const prev = changed(before, render(rec, ctx))
  if (Object.keys(prev).length > 0) ctx.emit(type, rec, prev)
}

export function addInterval (ts: number, r: Recurring): number {
  const d = new Date(ts * 1000)
  switch (r.interval) {
    case 'day': return ts + 86_400 * r.intervalCount
    case 'week': return ts + 7 * 86_400 * r.intervalCount
    case 'month': d.setUTCMonth(d.getUTCMonth() + r.intervalCount); break
    case 'year': d.setUTCFullYear(d.getUTCFullYear() + r.intervalCount); break
  }
  return Math.floor(d.getTime() / 1000)
}

export function formatAmount (amount: number, currency: string): string {
  return currency === 'usd' ? `$${(amount / 100).toFixed(2)}` : `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`
}

// ---- customers and payment methods

export function createCustomer (ctx: OpCtx, f: Partial<Pick<CustomerRec, 'email' | 'name' | 'description' | 'phone' | 'metadata' | 'defaultPaymentMethod'>>): CustomerRec {
  const customer = ctx.st.put<CustomerRec>({
    kind: 'customer', id: newId('cus', 14), created: ctx.now, livemode: ctx.st.livemode,
    email: f.email ?? null, name: f.name ?? null, description: f.description ?? null, phone: f.phone ?? null,
    metadata: f.metadata ?? {}, invoicePrefix: randomAlnum(8).toUpperCase(), nextInvoiceSequence: 1,
    defaultPaymentMethod: f.defaultPaymentMethod ?? null, currency: null, delinquent: false,
  })
  ctx.emit('customer.created', customer)
  return customer
}

export function updateCustomer (ctx: OpCtx, customer: CustomerRec, mutate: (c: CustomerRec) => void): void {
  update(ctx, customer, 'customer.updated', mutate)
}

/** Resolves `pm_card_visa`-style magic ids (cloned into a fresh `pm_…`, as Stripe does) or a stored id. */
export function resolvePaymentMethod (ctx: OpCtx, id: string, customer: string | null, param = 'payment_method', billing: { email?: string | null; name?: string | null } = {}): PaymentMethodRec {
  const card = CARDS[id]
  if (!card) {
    const stored = ctx.st.get('payment_method', id)
    if (!stored) throw invalidParam(param, `No such PaymentMethod: '${id}'`, 'resource_missing')
    return stored
  }
  return ctx.st.put<PaymentMethodRec>({
    kind: 'payment_method', id: newId('pm'), created: ctx.now, livemode: ctx.st.livemode,
    customer, card, billingEmail: billing.email ?? null, billingName: billing.name ?? null,
  })
}

// ---- payment intents and charges

export interface PaymentIntentInput {
  amount: number; currency: string; customer: string | null; description: string | null; metadata: Metadata
  paymentMethod: string | null; receiptEmail: string | null; paymentMethodTypes?: string[]; shipping?: JsonObject | null
}

export function createPaymentIntent (ctx: OpCtx, input: PaymentIntentInput): PaymentIntentRec {
  const id = newId('pi')
  const pi = ctx.st.put<PaymentIntentRec>({
    kind: 'payment_intent', id, created: ctx.now, livemode: ctx.st.livemode,
    amount: input.amount, amountReceived: 0, currency: input.currency, customer: input.customer,
    description: input.description, metadata: input.metadata, receiptEmail: input.receiptEmail,
    status: input.paymentMethod ? 'requires_confirmation' : 'requires_payment_method',
    paymentMethod: input.paymentMethod, latestCharge: null, canceledAt: null, cancellationReason: null, lastError: null,
    clientSecret: `${id}_secret_${randomAlnum(25)}`, paymentMethodTypes: input.paymentMethodTypes ?? ['card'],
    shipping: input.shipping ?? null,
  })
  ctx.emit('payment_intent.created', pi)
  return pi
}

/** Attempts the payment with `pm`; emits charge.succeeded + payment_intent.succeeded or the failures. */
export function chargePaymentIntent (ctx: OpCtx, pi: PaymentIntentRec, pm: PaymentMethodRec, forceDecline = false): boolean {
  const declineCode = forceDecline ? (pm.card.declineCode ?? 'generic_decline') : pm.card.declineCode
  const failure: CardError | null = declineCode
    ? { code: 'card_declined', declineCode, message: DECLINE_MESSAGES[declineCode] ?? 'Your card was declined.', charge: null, paymentMethod: pm.id }
    : null
  const charge = ctx.st.put<ChargeRec>({
    kind: 'charge', id: newId('ch'), created: ctx.now, livemode: ctx.st.livemode,
    amount: pi.amount, amountRefunded: 0, currency: pi.currency, customer: pi.customer,
    description: pi.description, metadata: { ...pi.metadata }, paymentIntent: pi.id, paymentMethod: pm.id,
    status: failure ? 'failed' : 'succeeded', failure, receiptEmail: pi.receiptEmail,
    balanceTransaction: failure ? null : newId('txn'), billingName: pm.billingName, billingEmail: pm.billingEmail,
  })
  pi.latestCharge = charge.id
  if (failure) {
    failure.charge = charge.id
    // a failed attempt detaches the method; it stays visible in last_payment_error
    Object.assign(pi, { status: 'requires_payment_method', paymentMethod: null, lastError: failure })
    ctx.emit('charge.failed', charge)
    ctx.emit('payment_intent.payment_failed', pi)
    return false
  }
  Object.assign(pi, { status: 'succeeded', paymentMethod: pm.id, amountReceived: pi.amount, lastError: null })
  ctx.emit('charge.succeeded', charge)
  ctx.emit('payment_intent.succeeded', pi)
  return true
}

const CANCELABLE = ['requires_payment_method', 'requires_capture', 'requires_confirmation', 'requires_action', 'processing']

export function cancelPaymentIntent (ctx: OpCtx, pi: PaymentIntentRec, reason: string | null): void {
  if (!CANCELABLE.includes(pi.status)) {
    throw invalidRequest(`You cannot cancel this PaymentIntent because it has a status of ${pi.status}. Only a PaymentIntent with one of the following statuses may be canceled: ${CANCELABLE.join(', ')}.`, 'payment_intent_unexpected_state')
  }
  Object.assign(pi, { status: 'canceled', canceledAt: ctx.now, cancellationReason: reason })
  ctx.emit('payment_intent.canceled', pi)
}

// ---- refunds

export function createRefund (ctx: OpCtx, charge: ChargeRec, amount: number | undefined, reason: string | null, metadata: Metadata): RefundRec {
  if (charge.status !== 'succeeded') throw invalidRequest(`Charge ${charge.id} cannot be refunded because it failed.`, 'charge_not_refundable')
  const left = charge.amount - charge.amountRefunded
  if (left <= 0) throw invalidRequest(`Charge ${charge.id} has already been refunded.`, 'charge_already_refunded')
  const value = amount ?? left
  if (value > left) {
    throw invalidParam('amount', `Refund amount (${formatAmount(value, charge.currency)}) is greater than unrefunded amount on charge (${formatAmount(left, charge.currency)})`, 'amount_too_large')
  }
  const refund = ctx.st.put<RefundRec>({
    kind: 'refund', id: newId('re'), created: ctx.now, livemode: ctx.st.livemode, amount: value,
    charge: charge.id, paymentIntent: charge.paymentIntent, currency: charge.currency, reason, metadata,
    paymentMethod: charge.paymentMethod, balanceTransaction: newId('txn'),
  })
  update(ctx, charge, 'charge.refunded', c => { c.amountRefunded += value })
  ctx.emit('refund.created', refund)
  return refund
}

// ---- invoices

function newInvoice (ctx: OpCtx, sub: SubscriptionRec, reason: InvoiceRec['billingReason'], lines: Array<Omit<InvoiceLineRec, 'id'>>, period: [number, number]): InvoiceRec {
  const customer = need(ctx, 'customer', sub.customer)
  return ctx.st.put<InvoiceRec>({
    kind: 'invoice', id: newId('in'), created: ctx.now, livemode: ctx.st.livemode,
    customer: sub.customer, subscription: sub.id, billingReason: reason, status: 'draft',
    lines: lines.map(l => ({ ...l, id: newId('il') })), currency: sub.currency, number: null,
    attemptCount: 0, attempted: false, nextPaymentAttempt: null, periodStart: period[0], periodEnd: period[1],
    finalizedAt: null, paidAt: null, payments: [], metadata: {}, subscriptionMetadata: { ...sub.metadata },
    customerEmail: customer.email, customerName: customer.name, autoAdvance: false,
  })
}

function periodLines (ctx: OpCtx, sub: SubscriptionRec, trial: boolean): Array<Omit<InvoiceLineRec, 'id'>> {
  return sub.items.map(item => {
    const price = need(ctx, 'price', item.price)
    const product = need(ctx, 'product', price.product)
    const amount = trial ? 0 : price.unitAmount * item.quantity
    const every = price.recurring ? ` / ${price.recurring.intervalCount > 1 ? `${price.recurring.intervalCount} ` : ''}${price.recurring.interval}` : ''
    return {
      amount, price: price.id, product: product.id, quantity: item.quantity, subscriptionItem: item.id, proration: false,
      periodStart: item.periodStart, periodEnd: item.periodEnd,
      description: trial
        ? `Trial period for ${product.name}`
        : `${item.quantity} × ${product.name} (at ${formatAmount(price.unitAmount, price.currency)}${every})`,
    }
  })
}

function markPaid (ctx: OpCtx, inv: InvoiceRec): void {
  Object.assign(inv, { status: 'paid', paidAt: ctx.now, nextPaymentAttempt: null, autoAdvance: false })
  const customer = ctx.st.get('customer', inv.customer)
  if (customer) customer.delinquent = false
  ctx.emit('invoice.paid', inv)
  ctx.emit('invoice.payment_succeeded', inv)
}

/** Pays (or retries) a finalized invoice through its payment intent. */
function payInvoice (ctx: OpCtx, inv: InvoiceRec, pm: PaymentMethodRec, forceDecline: boolean): boolean {
  const total = invoiceTotal(inv)
  if (total === 0) { markPaid(ctx, inv); return true }
  const last = inv.payments.at(-1)
  let pi = last ? need(ctx, 'payment_intent', last.paymentIntent) : undefined
  if (!pi || !last) {
    pi = createPaymentIntent(ctx, {
      amount: total, currency: inv.currency, customer: inv.customer, metadata: {}, paymentMethod: pm.id,
      receiptEmail: null, description: inv.billingReason === 'subscription_create' ? 'Subscription creation' : inv.billingReason === 'subscription_update' ? 'Subscription update' : 'Subscription cycle',
    })
    inv.payments.push({ id: newId('inpay'), created: ctx.now, paymentIntent: pi.id, amount: total, status: 'open', paidAt: null })
  }
  Object.assign(inv, { attempted: true, attemptCount: inv.attemptCount + 1 })
  if (chargePaymentIntent(ctx, pi, pm, forceDecline)) {
    const payment = inv.payments.at(-1)
    if (payment) Object.assign(payment, { status: 'paid', paidAt: ctx.now })
    markPaid(ctx, inv)
    return true
  }
  // Stripe's smart retries would try again in a few days
  Object.assign(inv, { nextPaymentAttempt: ctx.now + 3 * 86_400, autoAdvance: true })
  const customer = ctx.st.get('customer', inv.customer)
  if (customer) customer.delinquent = true
  ctx.emit('invoice.payment_failed', inv)
  return false
}

function billNewInvoice (ctx: OpCtx, inv: InvoiceRec, pm: PaymentMethodRec, forceDecline = false): boolean {
  ctx.emit('invoice.created', inv)
  const customer = need(ctx, 'customer', inv.customer)
  Object.assign(inv, { status: 'open', finalizedAt: ctx.now, number: `${customer.invoicePrefix}-${String(customer.nextInvoiceSequence).padStart(4, '0')}` })
  customer.nextInvoiceSequence++
  ctx.emit('invoice.finalized', inv)
  return payInvoice(ctx, inv, pm, forceDecline)
}

// ---- subscriptions

function paymentMethodOf (ctx: OpCtx, sub: SubscriptionRec): PaymentMethodRec {
  const id = sub.defaultPaymentMethod ?? ctx.st.get('customer', sub.customer)?.defaultPaymentMethod
  const pm = id ? ctx.st.get('payment_method', id) : undefined
  return pm ?? resolvePaymentMethod(ctx, 'pm_card_visa', sub.customer)
}

export interface SubscriptionInput {
  /** recurring prices become items; one-time prices are billed once on the first invoice */
  customer: CustomerRec; lines: Array<{ price: string; quantity: number }>; trialDays: number | null
  metadata: Metadata; description: string | null; paymentMethod: PaymentMethodRec
}

export function createSubscription (ctx: OpCtx, input: SubscriptionInput): SubscriptionRec {
  const recurringLines = input.lines.filter(l => need(ctx, 'price', l.price).recurring)
  const oneTime = input.lines.filter(l => !need(ctx, 'price', l.price).recurring)
  const first = need(ctx, 'price', recurringLines[0]?.price ?? '')
  const recurring = first.recurring ?? { interval: 'month', intervalCount: 1 }
  const trialEnd = input.trialDays ? ctx.now + input.trialDays * 86_400 : null
  const periodEnd = trialEnd ?? addInterval(ctx.now, recurring)
  const id = newId('sub')
  const items: SubscriptionItemRec[] = recurringLines.map(l => ({
    id: newId('si', 14), created: ctx.now, price: l.price, quantity: l.quantity, metadata: {}, periodStart: ctx.now, periodEnd,
  }))
  if (input.customer.currency === null) input.customer.currency = first.currency
  const sub = ctx.st.put<SubscriptionRec>({
    kind: 'subscription', id, created: ctx.now, livemode: ctx.st.livemode, customer: input.customer.id,
    status: trialEnd ? 'trialing' : 'active', items, currency: first.currency, metadata: input.metadata,
    description: input.description, defaultPaymentMethod: input.paymentMethod.id, latestInvoice: null,
    cancelAtPeriodEnd: false, cancelAt: null, canceledAt: null, endedAt: null, cancellationReason: null,
    trialStart: trialEnd ? ctx.now : null, trialEnd, startDate: ctx.now, billingCycleAnchor: periodEnd,
  })
  if (!trialEnd) sub.billingCycleAnchor = ctx.now
  const extra = oneTime.map(l => {
    const price = need(ctx, 'price', l.price)
    const product = need(ctx, 'product', price.product)
    return {
      amount: price.unitAmount * l.quantity, price: price.id, product: product.id, quantity: l.quantity, subscriptionItem: null,
      proration: false, periodStart: ctx.now, periodEnd: ctx.now, description: `${l.quantity} × ${product.name}`,
    }
  })
  const inv = newInvoice(ctx, sub, 'subscription_create', [...periodLines(ctx, sub, trialEnd !== null), ...extra], [ctx.now, ctx.now])
  sub.latestInvoice = inv.id
  ctx.emit('customer.subscription.created', sub)
  billNewInvoice(ctx, inv, input.paymentMethod)
  return sub
}

export function cancelSubscription (ctx: OpCtx, sub: SubscriptionRec, reason: SubscriptionRec['cancellationReason'] = 'cancellation_requested'): void {
  if (sub.status === 'canceled') throw invalidRequest(`No such subscription: '${sub.id}'`, 'resource_missing', 'id')
  Object.assign(sub, { status: 'canceled', canceledAt: ctx.now, endedAt: ctx.now, cancellationReason: reason, cancelAt: sub.cancelAt ?? null })
  ctx.emit('customer.subscription.deleted', sub)
}

export interface SubscriptionPatch {
  items?: Array<{ id?: string; price?: string; quantity?: number; deleted?: boolean; metadata?: Metadata }>
  cancelAtPeriodEnd?: boolean; metadata?: Metadata; description?: string | null; defaultPaymentMethod?: string | null
  prorationBehavior?: 'create_prorations' | 'none' | 'always_invoice'
}

const recurringTotal = (ctx: OpCtx, items: SubscriptionItemRec[]): number =>
  items.reduce((sum, i) => sum + need(ctx, 'price', i.price).unitAmount * i.quantity, 0)

export function updateSubscription (ctx: OpCtx, sub: SubscriptionRec, patch: SubscriptionPatch): void {
  if (sub.status === 'canceled') {
    const onlyMetadata = Object.keys(patch).every(k => k === 'metadata' || k === 'prorationBehavior')
    if (!onlyMetadata) throw invalidRequest('A canceled subscription can only update its cancellation_details and metadata.', 'invalid_canceled_subscription_fields')
  }
  const oldTotal = recurringTotal(ctx, sub.items)
  update(ctx, sub, 'customer.subscription.updated', s => {
    if (patch.metadata) s.metadata = patch.metadata
    if (patch.description !== undefined) s.description = patch.description
    if (patch.defaultPaymentMethod !== undefined) s.defaultPaymentMethod = patch.defaultPaymentMethod
    if (patch.items) s.items = applyItems(ctx, s, patch.items)
    if (patch.cancelAtPeriodEnd !== undefined && patch.cancelAtPeriodEnd !== s.cancelAtPeriodEnd) {
      const end = s.items[0]?.periodEnd ?? ctx.now
      Object.assign(s, patch.cancelAtPeriodEnd
        ? { cancelAtPeriodEnd: true, cancelAt: end, canceledAt: ctx.now, cancellationReason: 'cancellation_requested' }
        : { cancelAtPeriodEnd: false, cancelAt: null, canceledAt: null, cancellationReason: null })
    }
  })
  const difference = recurringTotal(ctx, sub.items) - oldTotal
  if (patch.items && patch.prorationBehavior === 'always_invoice' && difference > 0 && sub.status !== 'trialing') {
    // exact proration is out of scope: the whole difference for the rest of the period is billed now
    const item = sub.items[0]
    const price = need(ctx, 'price', item?.price ?? '')
    const inv = newInvoice(ctx, sub, 'subscription_update', [{
      amount: difference, price: price.id, product: price.product, quantity: 1, subscriptionItem: item?.id ?? null, proration: true,
      periodStart: ctx.now, periodEnd: item?.periodEnd ?? ctx.now, description: 'Remaining time after plan change',
    }], [ctx.now, ctx.now])
    update(ctx, sub, 'customer.subscription.updated', s => { s.latestInvoice = inv.id })
    billNewInvoice(ctx, inv, paymentMethodOf(ctx, sub))
  }
}

function applyItems (ctx: OpCtx, sub: SubscriptionRec, changes: NonNullable<SubscriptionPatch['items']>): SubscriptionItemRec[] {
  const items = sub.items.map(i => ({ ...i }))
  const period = { start: items[0]?.periodStart ?? ctx.now, end: items[0]?.periodEnd ?? ctx.now }
  changes.forEach((change, index) => {
    const param = `items[${index}]`
    if (change.id) {
      const at = items.findIndex(i => i.id === change.id)
      const existing = items[at]
      if (!existing) throw invalidParam(`${param}[id]`, `No such subscription item: '${change.id}'`, 'resource_missing')
      if (change.deleted) { items.splice(at, 1); return }
      if (change.price) existing.price = change.price
      if (change.quantity !== undefined) existing.quantity = change.quantity
      if (change.metadata) existing.metadata = change.metadata
      return
    }
    if (!change.price) throw invalidParam(`${param}[price]`, `Missing required param: ${param}[price].`, 'parameter_missing')
    items.push({ id: newId('si', 14), created: ctx.now, price: change.price, quantity: change.quantity ?? 1, metadata: change.metadata ?? {}, periodStart: period.start, periodEnd: period.end })
  })
  if (items.length === 0) throw invalidParam('items', 'A subscription must have at least one active plan.')
  return items
}

/**
 * The subscription's period ends: it is canceled if so scheduled, its open invoice is retried if it
 * is past due, otherwise the next period starts with a new invoice. `forceDecline` makes that payment fail.
 */
export function renewSubscription (ctx: OpCtx, sub: SubscriptionRec, forceDecline = false): void {
  if (sub.status === 'canceled' || sub.status === 'incomplete_expired') {
    throw invalidRequest(`Subscription ${sub.id} is ${sub.status} and cannot be renewed.`)
  }
  const open = sub.latestInvoice ? ctx.st.get('invoice', sub.latestInvoice) : undefined
  const pm = paymentMethodOf(ctx, sub)
  if (open?.status === 'open') {
    if (payInvoice(ctx, open, pm, forceDecline) && sub.status !== 'active') update(ctx, sub, 'customer.subscription.updated', s => { s.status = 'active' })
    return
  }
  if (sub.cancelAtPeriodEnd) return cancelSubscription(ctx, sub)
  let inv: InvoiceRec | undefined
  update(ctx, sub, 'customer.subscription.updated', s => {
    const first = need(ctx, 'price', s.items[0]?.price ?? '')
    const start = s.items[0]?.periodEnd ?? ctx.now
    const end = addInterval(start, first.recurring ?? { interval: 'month', intervalCount: 1 })
    s.items = s.items.map(i => ({ ...i, periodStart: start, periodEnd: end }))
    if (s.status === 'trialing') s.status = 'active'
    inv = newInvoice(ctx, s, 'subscription_cycle', periodLines(ctx, s, false), [start, start])
    s.latestInvoice = inv.id
  })
  if (inv && !billNewInvoice(ctx, inv, pm, forceDecline)) {
    update(ctx, sub, 'customer.subscription.updated', s => { s.status = 'past_due' })
  }
}

/**
 * What Stripe does when a trial ends without a payment method and the subscription's
 * `trial_settings.end_behavior.missing_payment_method` is `pause`: no invoice, status `paused`.
 */
export function pauseSubscription (ctx: OpCtx, sub: SubscriptionRec): void {
  if (sub.status !== 'active' && sub.status !== 'trialing') {
    throw invalidRequest(`Subscription ${sub.id} is ${sub.status} and cannot be paused.`)
  }
  update(ctx, sub, 'customer.subscription.paused', s => { s.status = 'paused' })
}

/** `POST /v1/subscriptions/{id}/resume`: a paused subscription is active again, billed from now. */
export function resumeSubscription (ctx: OpCtx, sub: SubscriptionRec): void {
  if (sub.status !== 'paused') throw invalidRequest('Subscription is not paused.', 'subscription_not_paused')
  update(ctx, sub, 'customer.subscription.resumed', s => { s.status = 'active' })
}

// ---- checkout

export interface CheckoutPayment { paymentMethod: string; email?: string | undefined; name?: string | undefined }

function checkoutCustomer (ctx: OpCtx, s: CheckoutSessionRec, email: string | null, name: string | null): CustomerRec | null {
  if (s.customer) return need(ctx, 'customer', s.customer)
  if (s.mode === 'payment' && s.customerCreation !== 'always') return null
  return createCustomer(ctx, { email, name })
}

/** Pays an open session, or records a declined attempt (the session then stays open, as in Checkout). */
export function completeCheckout (ctx: OpCtx, s: CheckoutSessionRec, pay: CheckoutPayment): boolean {
  if (s.status !== 'open') throw invalidRequest(`This Checkout Session is ${s.status} and can no longer be paid.`)
  const email = pay.email ?? s.customerEmail ?? (s.customer ? ctx.st.get('customer', s.customer)?.email : null) ?? 'jenny.rosen@example.com'
  const name = pay.name ?? 'Jenny Rosen'
  const declines = CARDS[pay.paymentMethod]?.declineCode != null
  if (declines) return failCheckoutAttempt(ctx, s, pay.paymentMethod, email, name)

  const customer = checkoutCustomer(ctx, s, email, name)
  const pm = resolvePaymentMethod(ctx, pay.paymentMethod, customer?.id ?? null, 'payment_method', { email, name })
  if (s.mode === 'subscription' && customer) {
    const sub = createSubscription(ctx, {
      customer, lines: s.lines, trialDays: s.trialPeriodDays, metadata: { ...s.subscriptionMetadata },
      description: s.subscriptionDescription, paymentMethod: pm,
    })
    Object.assign(s, { subscription: sub.id, invoice: sub.latestInvoice, paymentStatus: sessionAmount(ctx, s) > 0 ? 'paid' : 'no_payment_required' })
  } else {
    const pi = checkoutPaymentIntent(ctx, s, customer?.id ?? null, email)
    if (!chargePaymentIntent(ctx, pi, pm)) return false
    s.paymentStatus = 'paid'
  }
  Object.assign(s, { status: 'complete', customer: customer?.id ?? null, customerDetails: { email, name } })
  ctx.emit('checkout.session.completed', s)
  return true
}

function checkoutPaymentIntent (ctx: OpCtx, s: CheckoutSessionRec, customer: string | null, email: string): PaymentIntentRec {
  // Checkout keeps one payment intent per session and reuses it for retries
  const existing = s.paymentIntent ? ctx.st.get('payment_intent', s.paymentIntent) : undefined
  if (existing) return existing
  const pi = createPaymentIntent(ctx, {
    amount: sessionAmount(ctx, s), currency: s.currency, customer, description: s.paymentIntentDescription,
    metadata: { ...s.paymentIntentMetadata }, paymentMethod: null, receiptEmail: email,
  })
  s.paymentIntent = pi.id
  return pi
}

function failCheckoutAttempt (ctx: OpCtx, s: CheckoutSessionRec, method: string, email: string, name: string): false {
  const pm = resolvePaymentMethod(ctx, method, s.customer, 'payment_method', { email, name })
  const pi = s.mode === 'payment'
    ? checkoutPaymentIntent(ctx, s, s.customer, email)
    // no subscription exists until the first payment succeeds; the failed attempt still has a payment intent
    : createPaymentIntent(ctx, { amount: sessionAmount(ctx, s), currency: s.currency, customer: s.customer, description: 'Subscription creation', metadata: {}, paymentMethod: null, receiptEmail: email })
  chargePaymentIntent(ctx, pi, pm, true)
  return false
}

export function expireCheckout (ctx: OpCtx, s: CheckoutSessionRec): void {
  if (s.status !== 'open') {
    throw invalidRequest(`Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "${s.status}".`)
  }
  s.status = 'expired'
  ctx.emit('checkout.session.expired', s)
}

export function newCheckoutLines (lines: Array<{ price: string; quantity: number }>): CheckoutLine[] {
  return lines.map(l => ({ id: newId('li'), ...l }))
}

// ---- the clock

/** Moves an account's clock and runs what Stripe would have done meanwhile (renewals, cancellations, expiry). */
export function advanceClock (delivery: Delivery, baseUrl: string, account: Account, seconds: number): void {
  account.clockOffset += seconds
  for (const mode of ['test', 'live'] as Mode[]) {
    const ctx = createOpCtx(delivery, baseUrl, account, mode, AUTOMATIC)
    for (const s of ctx.st.all('checkout.session').reverse()) {
      if (s.status === 'open' && s.expiresAt <= ctx.now) expireCheckout(ctx, s)
    }
    for (const sub of ctx.st.all('subscription').reverse()) {
      // bounded: a large jump renews at most a few years of monthly periods
      for (let i = 0; i < 120; i++) {
        const end = sub.items[0]?.periodEnd
        if (end === undefined || end > ctx.now || !['active', 'trialing', 'past_due'].includes(sub.status)) break
        const open = sub.latestInvoice ? ctx.st.get('invoice', sub.latestInvoice) : undefined
        if (open?.status === 'open' && !sub.cancelAtPeriodEnd) break
        renewSubscription(ctx, sub)
      }
    }
  }
}

