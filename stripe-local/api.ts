import { invalidParam, invalidRequest, missingParam, noSuch, StripeError } from './errors.ts'
import type { OpCtx } from './events.ts'
import type { Param, Reader } from './form.ts'
import { newId, randomAlnum } from './ids.ts'
import type { Json, JsonObject } from './json.ts'
import {
  cancelPaymentIntent, cancelSubscription, chargePaymentIntent, resumeSubscription, createCustomer, createPaymentIntent, createRefund,
  createSubscription, expireCheckout, newCheckoutLines, resolvePaymentMethod, updateCustomer, updateSubscription,
  type SubscriptionPatch,
} from './lifecycle.ts'
import { renderCheckoutItem } from './objects/checkout.ts'
import { render } from './objects/index.ts'
import { renderAccount, renderBalance, renderWebhookEndpoint } from './objects/misc.ts'
import type {
  CheckoutSessionRec, Kind, PortalSessionRec, PriceRec, ProductRec, Rec, RecOf, Recurring, SubscriptionRec, WebhookEndpointRec,
} from './store.ts'

export interface ApiCall { ctx: OpCtx; p: Reader; ids: string[] }
type Handler = (c: ApiCall) => JsonObject
interface Route { method: string; pattern: RegExp; handler: Handler }

const NAMES: Record<Kind, string> = {
  customer: 'customer', product: 'product', price: 'price', 'checkout.session': 'checkout.session',
  subscription: 'subscription', invoice: 'invoice', payment_intent: 'payment_intent', charge: 'charge', refund: 'refund',
  payment_method: 'PaymentMethod', webhook_endpoint: 'webhook endpoint', 'billing_portal.session': 'billing_portal.session', event: 'event',
}

/** Own object or 404; the hint about the other mode is what Stripe says too. */
function find<K extends Kind> (ctx: OpCtx, kind: K, id: string, param = 'id'): RecOf<K> {
  const rec = ctx.st.get(kind, id)
  if (rec) return rec
  const other = ctx.mode === 'test' ? 'live' : 'test'
  throw noSuch(NAMES[kind], id, param, ctx.account.modes[other].get(kind, id) ? other : undefined)
}

const id0 = (c: ApiCall): string => c.ids[0] ?? ''

function list<K extends Kind> (c: ApiCall, kind: K, url: string, keep: (r: RecOf<K>) => boolean = () => true,
  view: (r: RecOf<K>) => JsonObject = r => render(r, c.ctx)): JsonObject {
  const limit = c.p.int('limit') ?? 10
  if (limit < 1 || limit > 100) throw invalidParam('limit', 'This value must be between 1 and 100.', 'parameter_invalid_integer')
  const inRange = createdRange(c.p)
  let items = c.ctx.st.all(kind).filter(r => inRange(r.created) && keep(r))
  const after = c.p.str('starting_after')
  const before = c.p.str('ending_before')
  if (after) {
    const at = items.findIndex(r => r.id === after)
    if (at < 0) throw noSuch(NAMES[kind], after, 'starting_after')
    items = items.slice(at + 1)
  } else if (before) {
    const at = items.findIndex(r => r.id === before)
    if (at < 0) throw noSuch(NAMES[kind], before, 'ending_before')
    items = items.slice(Math.max(0, at - limit), at)
    return { object: 'list', data: items.map(view), has_more: at - limit > 0, url }
  }
  return { object: 'list', data: items.slice(0, limit).map(view), has_more: items.length > limit, url }
}

/** Stripe's `created` list filter: an exact unix time, or a hash of `gt`, `gte`, `lt`, `lte`. */
function createdRange (p: Reader): (created: number) => boolean {
  if (!p.has('created')) return () => true
  if (typeof p.raw('created') === 'string') {
    const at = p.int('created')
    return created => at === undefined || created === at
  }
  const range = p.obj('created')
  if (!range) return () => true
  const gt = range.int('gt'), gte = range.int('gte'), lt = range.int('lt'), lte = range.int('lte')
  return created => (gt === undefined || created > gt) && (gte === undefined || created >= gte) &&
    (lt === undefined || created < lt) && (lte === undefined || created <= lte)
}

const deleted = (r: Rec, object: string): JsonObject => ({ id: r.id, object, deleted: true })

function toJson (v: Param): Json {
  if (typeof v === 'string') return v
  if (Array.isArray(v)) return v.map(toJson)
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]))
}

function currency (p: Reader, key = 'currency'): string {
  const value = p.reqStr(key).toLowerCase()
  if (!/^[a-z]{3}$/.test(value)) throw invalidParam(p.name(key), `Invalid currency: ${value}. Stripe currently supports these currencies: usd, eur, gbp, ...`)
  return value
}

function recurringOf (p: Reader | undefined): Recurring | null {
  if (!p) return null
  const interval = p.oneOf('interval', ['day', 'week', 'month', 'year'] as const)
  if (!interval) throw missingParam(p.name('interval'))
  const trial = p.int('trial_period_days', { min: 1 }) ?? null
  if (trial !== null && trial > 730) throw invalidParam(p.name('trial_period_days'), 'The maximum number of trial period days is 730 (2 years).')
  return { interval, intervalCount: p.int('interval_count', { min: 1 }) ?? 1, trialPeriodDays: trial }
}

// ---- catalog

function newProduct (ctx: OpCtx, p: Reader, emit: boolean): ProductRec {
  const product = ctx.st.put<ProductRec>({
    kind: 'product', id: newId('prod', 14), created: ctx.now, livemode: ctx.st.livemode, name: p.reqStr('name'),
    description: p.str('description') ?? null, active: p.bool('active') ?? true, metadata: p.metadata(),
    defaultPrice: null, updated: ctx.now, images: p.strings('images'), url: p.str('url') ?? null, unitLabel: p.str('unit_label') ?? null,
  })
  if (emit) ctx.emit('product.created', product)
  return product
}

function newPrice (ctx: OpCtx, p: Reader, product: string, emit: boolean): PriceRec {
  const unitAmount = p.int('unit_amount', { min: 0 })
  if (unitAmount === undefined) throw missingParam(p.name('unit_amount'))
  const price = ctx.st.put<PriceRec>({
    kind: 'price', id: newId('price'), created: ctx.now, livemode: ctx.st.livemode, product, unitAmount,
    currency: currency(p), recurring: recurringOf(p.obj('recurring')), active: p.bool('active') ?? true,
    nickname: p.str('nickname') ?? null, lookupKey: p.str('lookup_key') ?? null, metadata: p.metadata(),
  })
  if (emit) ctx.emit('price.created', price)
  return price
}

/** `price` or inline `price_data` (with `product` or `product_data`), as line items and subscription items take. */
function priceOf (ctx: OpCtx, p: Reader): PriceRec {
  const id = p.str('price')
  if (id) return find(ctx, 'price', id, p.name('price'))
  const data = p.obj('price_data')
  if (!data) throw missingParam(p.name('price'))
  const productData = data.obj('product_data')
  const product = productData ? newProduct(ctx, productData, false).id : find(ctx, 'product', data.reqStr('product'), data.name('product')).id
  return newPrice(ctx, data, product, false)
}

const products: Handler = c => {
  const product = newProduct(c.ctx, c.p, true)
  const priceData = c.p.obj('default_price_data')
  if (priceData) product.defaultPrice = newPrice(c.ctx, priceData, product.id, true).id
  return render(product, c.ctx)
}

const updateProduct: Handler = c => {
  const product = find(c.ctx, 'product', id0(c))
  const defaultPrice = c.p.str('default_price')
  if (defaultPrice) find(c.ctx, 'price', defaultPrice, 'default_price')
  Object.assign(product, {
    name: c.p.str('name') ?? product.name, description: c.p.nullableStr('description') ?? (c.p.has('description') ? null : product.description),
    active: c.p.bool('active') ?? product.active, metadata: c.p.metadata(product.metadata),
    defaultPrice: defaultPrice ?? product.defaultPrice, updated: c.ctx.now,
  })
  c.ctx.emit('product.updated', product)
  return render(product, c.ctx)
}

const prices: Handler = c => {
  const productData = c.p.obj('product_data')
  const product = productData ? newProduct(c.ctx, productData, true).id : find(c.ctx, 'product', c.p.reqStr('product'), 'product').id
  return render(newPrice(c.ctx, c.p, product, true), c.ctx)
}

const updatePrice: Handler = c => {
  const price = find(c.ctx, 'price', id0(c))
  Object.assign(price, {
    active: c.p.bool('active') ?? price.active, metadata: c.p.metadata(price.metadata),
    nickname: c.p.str('nickname') ?? price.nickname, lookupKey: c.p.str('lookup_key') ?? price.lookupKey,
  })
  c.ctx.emit('price.updated', price)
  return render(price, c.ctx)
}

const listPrices: Handler = c => {
  const product = c.p.str('product')
  const active = c.p.bool('active')
  const type = c.p.oneOf('type', ['one_time', 'recurring'] as const)
  const lookupKeys = c.p.strings('lookup_keys')
  return list(c, 'price', '/v1/prices', r => (!product || r.product === product) && (active === undefined || r.active === active) &&
    (!type || (type === 'recurring') === (r.recurring !== null)) && (lookupKeys.length === 0 || lookupKeys.includes(r.lookupKey ?? '')))
}

// ---- customers

const customers: Handler = c => {
  const pm = c.p.str('payment_method')
  const invoiceDefault = c.p.obj('invoice_settings')?.str('default_payment_method')
  // methods are resolved first so that customer.created already shows the default
  const attached = pm ? resolvePaymentMethod(c.ctx, pm, null) : undefined
  const defaultMethod = invoiceDefault && invoiceDefault !== pm
    ? resolvePaymentMethod(c.ctx, invoiceDefault, null, 'invoice_settings[default_payment_method]')
    : invoiceDefault ? attached : undefined
  const customer = createCustomer(c.ctx, {
    email: c.p.str('email') ?? null, name: c.p.str('name') ?? null, description: c.p.str('description') ?? null,
    phone: c.p.str('phone') ?? null, metadata: c.p.metadata(), defaultPaymentMethod: defaultMethod?.id ?? null,
  })
  for (const method of [attached, defaultMethod]) if (method) method.customer = customer.id
  return render(customer, c.ctx)
}

const nullable = (p: Reader, key: string, current: string | null): string | null => {
  const v = p.nullableStr(key)
  return v === undefined ? current : v
}

const updateCustomerRoute: Handler = c => {
  const customer = find(c.ctx, 'customer', id0(c))
  const settings = c.p.obj('invoice_settings')
  const pm = settings?.nullableStr('default_payment_method')
  const method = pm ? resolvePaymentMethod(c.ctx, pm, customer.id, 'invoice_settings[default_payment_method]').id : pm
  updateCustomer(c.ctx, customer, cu => {
    cu.email = nullable(c.p, 'email', cu.email)
    cu.name = nullable(c.p, 'name', cu.name)
    cu.description = nullable(c.p, 'description', cu.description)
    cu.phone = nullable(c.p, 'phone', cu.phone)
    cu.metadata = c.p.metadata(cu.metadata)
    if (method !== undefined) cu.defaultPaymentMethod = method
  })
  return render(customer, c.ctx)
}

const deleteCustomer: Handler = c => {
  const customer = find(c.ctx, 'customer', id0(c))
  for (const sub of c.ctx.st.all('subscription')) {
    if (sub.customer === customer.id && sub.status !== 'canceled') cancelSubscription(c.ctx, sub)
  }
  c.ctx.emit('customer.deleted', customer)
  c.ctx.st.remove(customer.id)
  return deleted(customer, 'customer')
}

// ---- checkout and portal

const checkoutSessions: Handler = c => {
  const { ctx, p } = c
  const mode = p.oneOf('mode', ['payment', 'setup', 'subscription'] as const)
  if (!mode) throw missingParam('mode')
  if (mode === 'setup') throw invalidParam('mode', 'stripe-local supports Checkout in payment and subscription mode only.')
  const customerId = p.str('customer')
  const customerEmail = p.str('customer_email') ?? null
  if (customerId && customerEmail) throw invalidRequest('You may only specify one of these parameters: customer, customer_email.')
  if (customerId) find(ctx, 'customer', customerId, 'customer')
  const items = p.list('line_items')
  if (items.length === 0) throw missingParam('line_items')
  const lines = items.map(item => {
    const price = priceOf(ctx, item)
    if (!price.active) throw invalidParam(item.name('price'), 'The price specified is inactive. This field only accepts active prices.')
    const quantity = item.int('quantity', { min: 1 })
    if (quantity === undefined) throw missingParam(item.name('quantity'))
    return { price, quantity }
  })
  const recurring = lines.some(l => l.price.recurring)
  if (mode === 'subscription' && !recurring) throw invalidParam('line_items', 'You must provide at least one recurring price in `subscription` mode when using prices.')
  if (mode === 'payment' && recurring) throw invalidParam('line_items', 'You specified `payment` mode but passed a recurring price. Either switch to `subscription` mode or use only one-time prices.')
  const currencies = new Set(lines.map(l => l.price.currency))
  if (currencies.size > 1) throw invalidParam('line_items', 'All line items must use the same currency.')
  const subscriptionData = p.obj('subscription_data')
  const paymentIntentData = p.obj('payment_intent_data')
  if (mode === 'payment' && subscriptionData) throw invalidParam('subscription_data', 'You can only specify `subscription_data` in `subscription` mode.')
  if (mode === 'subscription' && paymentIntentData) throw invalidParam('payment_intent_data', 'You can only specify `payment_intent_data` in `payment` mode.')
  const trial = subscriptionData?.int('trial_period_days', { min: 1 }) ?? null
  if (trial !== null && trial > 730) throw invalidParam('subscription_data[trial_period_days]', 'The maximum number of trial period days is 730 (2 years).')
  const expiresAt = p.int('expires_at') ?? ctx.now + 86_400
  if (expiresAt < ctx.now + 1800 || expiresAt > ctx.now + 86_400) {
    throw invalidParam('expires_at', 'The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.')
  }
  const session = ctx.st.put<CheckoutSessionRec>({
    kind: 'checkout.session', id: `cs_${ctx.mode}_${randomAlnum(58)}`, created: ctx.now, livemode: ctx.st.livemode,
    mode, status: 'open', paymentStatus: 'unpaid',
    lines: newCheckoutLines(lines.map(l => ({ price: l.price.id, quantity: l.quantity }))),
    currency: lines[0]?.price.currency ?? 'usd',
    customer: customerId ?? null, customerEmail,
    customerCreation: customerId ? null : mode === 'subscription' ? 'always' : p.oneOf('customer_creation', ['always', 'if_required'] as const) ?? 'if_required',
    customerDetails: null, clientReferenceId: p.str('client_reference_id') ?? null, metadata: p.metadata(),
    successUrl: p.str('success_url') ?? null, cancelUrl: p.str('cancel_url') ?? null, returnUrl: p.str('return_url') ?? null,
    uiMode: p.str('ui_mode') ?? null, locale: p.str('locale') ?? null, expiresAt,
    allowPromotionCodes: p.bool('allow_promotion_codes') ?? null, trialPeriodDays: trial,
    subscriptionMetadata: subscriptionData?.metadata() ?? {}, subscriptionDescription: subscriptionData?.str('description') ?? null,
    paymentIntentMetadata: paymentIntentData?.metadata() ?? {}, paymentIntentDescription: paymentIntentData?.str('description') ?? null,
    subscription: null, invoice: null, paymentIntent: null,
  })
  return render(session, ctx)
}

const listCheckoutSessions: Handler = c => {
  const customer = c.p.str('customer')
  const paymentIntent = c.p.str('payment_intent')
  const subscription = c.p.str('subscription')
  const status = c.p.oneOf('status', ['open', 'complete', 'expired'] as const)
  return list(c, 'checkout.session', '/v1/checkout/sessions', s => (!customer || s.customer === customer) &&
    (!paymentIntent || s.paymentIntent === paymentIntent) && (!subscription || s.subscription === subscription) && (!status || s.status === status))
}

const checkoutLineItems: Handler = c => {
  const session = find(c.ctx, 'checkout.session', id0(c))
  const limit = c.p.int('limit') ?? 10
  let lines = session.lines
  const after = c.p.str('starting_after')
  if (after) lines = lines.slice(lines.findIndex(l => l.id === after) + 1)
  return {
    object: 'list', data: lines.slice(0, limit).map(l => renderCheckoutItem(l, c.ctx)),
    has_more: lines.length > limit, url: `/v1/checkout/sessions/${session.id}/line_items`,
  }
}

const portalSessions: Handler = c => {
  const customer = find(c.ctx, 'customer', c.p.reqStr('customer'), 'customer')
  const session = c.ctx.st.put<PortalSessionRec>({
    kind: 'billing_portal.session', id: newId('bps'), created: c.ctx.now, livemode: c.ctx.st.livemode,
    customer: customer.id, returnUrl: c.p.str('return_url') ?? null, locale: c.p.str('locale') ?? null,
    configuration: c.p.str('configuration') ?? c.ctx.account.portalConfiguration,
  })
  return render(session, c.ctx)
}

// ---- subscriptions and invoices

function subscriptionItemsPatch (c: ApiCall): SubscriptionPatch['items'] {
  if (!c.p.has('items')) return undefined
  return c.p.list('items').map(item => {
    const hasPrice = item.has('price') || item.has('price_data')
    const price = hasPrice ? priceOf(c.ctx, item) : undefined
    if (price && !price.recurring) throw invalidParam(item.name('price'), `The price specified is set to \`type=one_time\` but this field only accepts prices with \`type=recurring\`.`)
    const out: NonNullable<SubscriptionPatch['items']>[number] = {}
    const id = item.str('id')
    if (id) out.id = id
    if (price) out.price = price.id
    const quantity = item.int('quantity', { min: 0 })
    if (quantity !== undefined) out.quantity = quantity
    if (item.bool('deleted')) out.deleted = true
    if (item.has('metadata')) out.metadata = item.metadata()
    return out
  })
}

const updateSubscriptionRoute: Handler = c => {
  const sub = find(c.ctx, 'subscription', id0(c))
  const patch: SubscriptionPatch = {}
  const items = subscriptionItemsPatch(c)
  if (items) patch.items = items
  const cancelAtPeriodEnd = c.p.bool('cancel_at_period_end')
  if (cancelAtPeriodEnd !== undefined) patch.cancelAtPeriodEnd = cancelAtPeriodEnd
  if (c.p.has('metadata')) patch.metadata = c.p.metadata(sub.metadata)
  if (c.p.has('description')) patch.description = c.p.nullableStr('description') ?? null
  const pm = c.p.nullableStr('default_payment_method')
  if (pm !== undefined) patch.defaultPaymentMethod = pm === null ? null : resolvePaymentMethod(c.ctx, pm, sub.customer, 'default_payment_method').id
  const proration = c.p.oneOf('proration_behavior', ['create_prorations', 'none', 'always_invoice'] as const)
  if (proration) patch.prorationBehavior = proration
  updateSubscription(c.ctx, sub, patch)
  return render(sub, c.ctx)
}

const createSubscriptionRoute: Handler = c => {
  const customer = find(c.ctx, 'customer', c.p.reqStr('customer'), 'customer')
  const items = c.p.list('items')
  if (items.length === 0) throw missingParam('items')
  const lines = items.map(item => {
    const price = priceOf(c.ctx, item)
    if (!price.recurring) throw invalidParam(item.name('price'), 'The price specified is set to `type=one_time` but this field only accepts prices with `type=recurring`.')
    return { price: price.id, quantity: item.int('quantity', { min: 1 }) ?? 1 }
  })
  const pmId = c.p.str('default_payment_method') ?? customer.defaultPaymentMethod
  if (!pmId) throw invalidRequest('This customer has no attached payment source or default payment method. Please consider adding a default payment method.', 'resource_missing')
  const paymentMethod = resolvePaymentMethod(c.ctx, pmId, customer.id, 'default_payment_method')
  const sub = createSubscription(c.ctx, {
    customer, lines, trialDays: c.p.int('trial_period_days', { min: 1 }) ?? null, metadata: c.p.metadata(),
    description: c.p.str('description') ?? null, paymentMethod,
  })
  return render(sub, c.ctx)
}

const listSubscriptions: Handler = c => {
  const customer = c.p.str('customer')
  const price = c.p.str('price')
  const status = c.p.oneOf('status', ['active', 'all', 'canceled', 'ended', 'incomplete', 'incomplete_expired', 'past_due', 'paused', 'trialing', 'unpaid'] as const)
  const statusOk = (s: SubscriptionRec): boolean => status === 'all' || (status === 'ended' ? s.endedAt !== null
    : status ? s.status === status : s.status !== 'canceled' && s.status !== 'incomplete_expired')
  return list(c, 'subscription', '/v1/subscriptions', s => (!customer || s.customer === customer) &&
    (!price || s.items.some(i => i.price === price)) && statusOk(s))
}

// ---- payments

function cardError (ctx: OpCtx, piId: string): StripeError {
  const pi = find(ctx, 'payment_intent', piId)
  const error = pi.lastError
  return new StripeError(402, 'card_error', error?.message ?? 'Your card was declined.', error?.code ?? 'card_declined', undefined, {
    decline_code: error?.declineCode ?? 'generic_decline', charge: error?.charge ?? null, payment_intent: render(pi, ctx),
  })
}

function confirm (c: ApiCall, piId: string, method: string | undefined): void {
  const pi = find(c.ctx, 'payment_intent', piId)
  const pmId = method ?? pi.paymentMethod
  if (!pmId) throw invalidRequest('You cannot confirm this PaymentIntent because it\'s missing a payment method. To confirm the PaymentIntent with your customer, you must provide a payment method.', 'payment_intent_unexpected_state')
  if (pi.status !== 'requires_payment_method' && pi.status !== 'requires_confirmation') {
    throw invalidRequest(`You cannot confirm this PaymentIntent because it has a status of ${pi.status}.`, 'payment_intent_unexpected_state')
  }
  const pm = resolvePaymentMethod(c.ctx, pmId, pi.customer)
  if (!chargePaymentIntent(c.ctx, pi, pm)) throw cardError(c.ctx, pi.id)
}

const paymentIntents: Handler = c => {
  const amount = c.p.int('amount', { min: 1 })
  if (amount === undefined) throw missingParam('amount')
  const cur = currency(c.p)
  if (amount < 50) throw invalidParam('amount', `Amount must be at least ${cur === 'usd' ? '$0.50 usd' : `50 ${cur}`}`, 'amount_too_small')
  const customer = c.p.str('customer')
  if (customer) find(c.ctx, 'customer', customer, 'customer')
  const method = c.p.str('payment_method')
  const pm = method ? resolvePaymentMethod(c.ctx, method, customer ?? null) : undefined
  const shipping = c.p.raw('shipping')
  const pi = createPaymentIntent(c.ctx, {
    amount, currency: cur, customer: customer ?? null, description: c.p.str('description') ?? null, metadata: c.p.metadata(),
    paymentMethod: pm?.id ?? null, receiptEmail: c.p.str('receipt_email') ?? null,
    paymentMethodTypes: c.p.strings('payment_method_types').length ? c.p.strings('payment_method_types') : ['card'],
    shipping: shipping && typeof shipping === 'object' && !Array.isArray(shipping) ? toJson(shipping) as JsonObject : null,
  })
  if (c.p.bool('confirm')) confirm(c, pi.id, pm?.id)
  return render(pi, c.ctx)
}

const refunds: Handler = c => {
  const chargeId = c.p.str('charge')
  const piId = c.p.str('payment_intent')
  if (!chargeId && !piId) throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.', 'parameter_missing')
  let charge
  if (chargeId) charge = find(c.ctx, 'charge', chargeId, 'charge')
  else {
    const pi = find(c.ctx, 'payment_intent', piId ?? '', 'payment_intent')
    charge = pi.status === 'succeeded' && pi.latestCharge ? c.ctx.st.get('charge', pi.latestCharge) : undefined
    if (!charge) throw invalidParam('payment_intent', `This PaymentIntent (${pi.id}) does not have a successful charge to refund.`)
  }
  const reason = c.p.oneOf('reason', ['duplicate', 'fraudulent', 'requested_by_customer'] as const) ?? null
  return render(createRefund(c.ctx, charge, c.p.int('amount', { min: 1 }), reason, c.p.metadata()), c.ctx)
}

// ---- webhook endpoints and events

const EVENT_TYPE = /^(\*|[a-z_]+(\.[a-z_]+)+)$/

function enabledEvents (p: Reader): string[] {
  const events = p.strings('enabled_events')
  events.forEach((e, i) => { if (!EVENT_TYPE.test(e)) throw invalidParam(`enabled_events[${i}]`, `Invalid enabled_events[${i}]: must be a known event type or '*'`) })
  return events
}

function webhookUrl (p: Reader): string {
  const url = p.reqStr('url')
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw invalidParam('url', 'Invalid URL: URL must be publicly accessible or use the http or https scheme.', 'url_invalid')
  return url
}

const webhookEndpoints: Handler = c => {
  const url = webhookUrl(c.p)
  const events = enabledEvents(c.p)
  if (events.length === 0) throw missingParam('enabled_events')
  const endpoint = c.ctx.st.put<WebhookEndpointRec>({
    kind: 'webhook_endpoint', id: newId('we'), created: c.ctx.now, livemode: c.ctx.st.livemode, url,
    enabledEvents: events, secret: `whsec_${randomAlnum(32)}`, description: c.p.str('description') ?? null,
    metadata: c.p.metadata(), apiVersion: c.p.str('api_version') ?? null, status: 'enabled',
  })
  // the secret is only ever shown by the create call
  return { ...renderWebhookEndpoint(endpoint), secret: endpoint.secret }
}

const updateWebhookEndpoint: Handler = c => {
  const endpoint = find(c.ctx, 'webhook_endpoint', id0(c))
  if (c.p.has('url')) endpoint.url = webhookUrl(c.p)
  if (c.p.has('enabled_events')) endpoint.enabledEvents = enabledEvents(c.p)
  const disabled = c.p.bool('disabled')
  if (disabled !== undefined) endpoint.status = disabled ? 'disabled' : 'enabled'
  endpoint.description = nullable(c.p, 'description', endpoint.description)
  endpoint.metadata = c.p.metadata(endpoint.metadata)
  return render(endpoint, c.ctx)
}

const listEvents: Handler = c => {
  const type = c.p.str('type')
  const types = c.p.strings('types')
  if (type && types.length > 0) throw invalidRequest('You may only specify one of these parameters: type, types.')
  const typeOk = (t: string): boolean => (!type || (type.endsWith('.*') ? t.startsWith(type.slice(0, -1)) : t === type)) && (types.length === 0 || types.includes(t))
  // delivery_success=false: events with a delivery that failed every attempt, or is still being retried.
  const success = c.p.bool('delivery_success')
  const undelivered = success === undefined ? null : c.ctx.undelivered()
  const deliveryOk = (id: string): boolean => undelivered === null || undelivered.has(id) !== success
  return list(c, 'event', '/v1/events', e => typeOk(e.type) && deliveryOk(e.id))
}

const retrieve = <K extends Kind>(kind: K): Handler => c => render(find(c.ctx, kind, id0(c)), c.ctx)

const byField = <K extends Kind>(c: ApiCall, kind: K, url: string, fields: Array<[string, (r: RecOf<K>) => string | null]>): JsonObject => {
  const wanted = fields.map(([name, get]) => [c.p.str(name), get] as const)
  return list(c, kind, url, r => wanted.every(([value, get]) => value === undefined || get(r) === value))
}

const ROUTES: Array<[string, string, Handler]> = [
  ['GET', '/v1/account', c => renderAccount(c.ctx.account)],
  ['GET', '/v1/accounts/:id', c => { if (id0(c) !== c.ctx.account.id) throw noSuch('account', id0(c), 'account'); return renderAccount(c.ctx.account) }],
  ['GET', '/v1/balance', c => renderBalance(c.ctx)],

  ['POST', '/v1/products', products],
  ['GET', '/v1/products', c => { const active = c.p.bool('active'); return list(c, 'product', '/v1/products', r => active === undefined || r.active === active) }],
  ['GET', '/v1/products/:id', retrieve('product')],
  ['POST', '/v1/products/:id', updateProduct],
  ['DELETE', '/v1/products/:id', c => { const p = find(c.ctx, 'product', id0(c)); c.ctx.st.remove(p.id); c.ctx.emit('product.deleted', p); return deleted(p, 'product') }],

  ['POST', '/v1/prices', prices],
  ['GET', '/v1/prices', listPrices],
  ['GET', '/v1/prices/:id', retrieve('price')],
  ['POST', '/v1/prices/:id', updatePrice],

  ['POST', '/v1/customers', customers],
  ['GET', '/v1/customers', c => byField(c, 'customer', '/v1/customers', [['email', r => r.email]])],
  ['GET', '/v1/customers/:id', retrieve('customer')],
  ['POST', '/v1/customers/:id', updateCustomerRoute],
  ['DELETE', '/v1/customers/:id', deleteCustomer],

  ['POST', '/v1/checkout/sessions', checkoutSessions],
  ['GET', '/v1/checkout/sessions', listCheckoutSessions],
  ['GET', '/v1/checkout/sessions/:id', retrieve('checkout.session')],
  ['POST', '/v1/checkout/sessions/:id/expire', c => { const s = find(c.ctx, 'checkout.session', id0(c)); expireCheckout(c.ctx, s); return render(s, c.ctx) }],
  ['GET', '/v1/checkout/sessions/:id/line_items', checkoutLineItems],
  ['POST', '/v1/billing_portal/sessions', portalSessions],

  ['POST', '/v1/subscriptions', createSubscriptionRoute],
  ['GET', '/v1/subscriptions', listSubscriptions],
  ['GET', '/v1/subscriptions/:id', retrieve('subscription')],
  ['POST', '/v1/subscriptions/:id', updateSubscriptionRoute],
  ['POST', '/v1/subscriptions/:id/resume', c => { const s = find(c.ctx, 'subscription', id0(c)); resumeSubscription(c.ctx, s); return render(s, c.ctx) }],
  ['DELETE', '/v1/subscriptions/:id', c => { const s = find(c.ctx, 'subscription', id0(c)); cancelSubscription(c.ctx, s); return render(s, c.ctx) }],

  ['GET', '/v1/invoices', c => byField(c, 'invoice', '/v1/invoices', [['customer', r => r.customer], ['subscription', r => r.subscription], ['status', r => (c.p.str('status') === 'all' ? 'all' : r.status)]])],
  ['GET', '/v1/invoices/:id', retrieve('invoice')],

  ['POST', '/v1/payment_intents', paymentIntents],
  ['GET', '/v1/payment_intents', c => byField(c, 'payment_intent', '/v1/payment_intents', [['customer', r => r.customer]])],
  ['GET', '/v1/payment_intents/:id', retrieve('payment_intent')],
  ['POST', '/v1/payment_intents/:id/confirm', c => { confirm(c, id0(c), c.p.str('payment_method')); return render(find(c.ctx, 'payment_intent', id0(c)), c.ctx) }],
  ['POST', '/v1/payment_intents/:id/cancel', c => {
    const pi = find(c.ctx, 'payment_intent', id0(c))
    cancelPaymentIntent(c.ctx, pi, c.p.oneOf('cancellation_reason', ['abandoned', 'duplicate', 'fraudulent', 'requested_by_customer'] as const) ?? null)
    return render(pi, c.ctx)
  }],
  ['GET', '/v1/payment_methods/:id', retrieve('payment_method')],

  ['GET', '/v1/charges', c => byField(c, 'charge', '/v1/charges', [['customer', r => r.customer], ['payment_intent', r => r.paymentIntent]])],
  ['GET', '/v1/charges/:id', retrieve('charge')],
  ['POST', '/v1/refunds', refunds],
  ['GET', '/v1/refunds', c => byField(c, 'refund', '/v1/refunds', [['charge', r => r.charge], ['payment_intent', r => r.paymentIntent]])],
  ['GET', '/v1/refunds/:id', retrieve('refund')],

  ['POST', '/v1/webhook_endpoints', webhookEndpoints],
  ['GET', '/v1/webhook_endpoints', c => list(c, 'webhook_endpoint', '/v1/webhook_endpoints')],
  ['GET', '/v1/webhook_endpoints/:id', retrieve('webhook_endpoint')],
  ['POST', '/v1/webhook_endpoints/:id', updateWebhookEndpoint],
  ['DELETE', '/v1/webhook_endpoints/:id', c => { const w = find(c.ctx, 'webhook_endpoint', id0(c)); c.ctx.st.remove(w.id); return deleted(w, 'webhook_endpoint') }],

  ['GET', '/v1/events', listEvents],
  ['GET', '/v1/events/:id', retrieve('event')],
]

export const routes: Route[] = ROUTES.map(([method, path, handler]) => ({
  method,
  pattern: new RegExp(`^${path.replaceAll(/:[a-z]+/g, '([^/]+)')}$`),
  handler,
}))

export function matchRoute (method: string, path: string): { handler: Handler; ids: string[] } | { allowed: false } | undefined {
  let pathMatched = false
  for (const route of routes) {
    const m = route.pattern.exec(path)
    if (!m) continue
    pathMatched = true
    if (route.method === method) return { handler: route.handler, ids: m.slice(1).map(decodeURIComponent) }
  }
  return pathMatched ? { allowed: false } : undefined
}
