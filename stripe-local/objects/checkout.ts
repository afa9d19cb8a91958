import type { JsonObject } from '../json.ts'
import type { CheckoutLine, CheckoutSessionRec } from '../store.ts'
import { renderPrice } from './catalog.ts'
import { emptyAddress, need, type RenderCtx } from './context.ts'

export function sessionAmount (ctx: RenderCtx, s: CheckoutSessionRec): number {
  // a trial defers the recurring part of the first payment: Checkout shows only one-time prices due today
  const deferred = s.mode === 'subscription' && s.trialPeriodDays !== null
  return s.lines.reduce((sum, l) => {
    const price = need(ctx, 'price', l.price)
    return deferred && price.recurring ? sum : sum + price.unitAmount * l.quantity
  }, 0)
}

export function renderCheckoutSession (s: CheckoutSessionRec, ctx: RenderCtx): JsonObject {
  const amount = sessionAmount(ctx, s)
  return {
    id: s.id,
    object: 'checkout.session',
    adaptive_pricing: { enabled: false },
    after_expiration: null,
    allow_promotion_codes: s.allowPromotionCodes,
    amount_subtotal: amount,
    amount_total: amount,
    automatic_tax: { enabled: false, liability: null, provider: null, status: null },
    billing_address_collection: null,
    cancel_url: s.cancelUrl,
    client_reference_id: s.clientReferenceId,
    client_secret: null,
    collected_information: null,
    consent: null,
    consent_collection: null,
    created: s.created,
    currency: s.currency,
    currency_conversion: null,
    custom_fields: [],
    custom_text: { after_submit: null, shipping_address: null, submit: null, terms_of_service_acceptance: null },
    customer: s.customer,
    customer_account: null,
    customer_creation: s.customerCreation,
    customer_details: s.customerDetails
      ? { address: emptyAddress(), business_name: null, email: s.customerDetails.email, individual_name: null, name: s.customerDetails.name, phone: null, tax_exempt: 'none', tax_ids: [] }
      : null,
    customer_email: s.customerEmail,
    discounts: [],
    expires_at: s.expiresAt,
    integration_identifier: null,
    invoice: s.invoice,
    invoice_creation: s.mode === 'payment'
      ? { enabled: false, invoice_data: { account_tax_ids: null, custom_fields: null, description: null, footer: null, issuer: null, metadata: {}, rendering_options: null } }
      : null,
    livemode: s.livemode,
    locale: s.locale,
    managed_payments: null,
    metadata: { ...s.metadata },
    mode: s.mode,
    origin_context: null,
    payment_intent: s.paymentIntent,
    payment_link: null,
    payment_method_collection: s.mode === 'subscription' ? 'always' : 'if_required',
    payment_method_configuration_details: null,
    payment_method_options: { card: { request_three_d_secure: 'automatic' } },
    payment_method_types: ['card'],
    payment_status: s.paymentStatus,
    permissions: null,
    phone_number_collection: { enabled: false },
    recovered_from: null,
    saved_payment_method_options: null,
    setup_intent: null,
    shipping_address_collection: null,
    shipping_cost: null,
    shipping_options: [],
    status: s.status,
    submit_type: null,
    subscription: s.subscription,
    success_url: s.successUrl,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    ui_mode: s.uiMode ?? 'hosted',
    // Checkout clears the URL once the session is complete or expired
    url: s.status === 'open' && (s.uiMode ?? 'hosted') === 'hosted' ? `${ctx.baseUrl}/_local/checkout/pay/${s.id}` : null,
    wallet_options: null,
  }
}

/** A Checkout line item (`object: 'item'`), as listed by /v1/checkout/sessions/{id}/line_items. */
export function renderCheckoutItem (line: CheckoutLine, ctx: RenderCtx): JsonObject {
  const price = need(ctx, 'price', line.price)
  const product = need(ctx, 'product', price.product)
  const amount = price.unitAmount * line.quantity
  return {
    id: line.id,
    object: 'item',
    adjustable_quantity: null,
    amount_discount: 0,
    amount_subtotal: amount,
    amount_tax: 0,
    amount_total: amount,
    currency: price.currency,
    description: product.name,
    metadata: {},
    price: renderPrice(price),
    quantity: line.quantity,
  }
}
