import type { JsonObject } from '../json.ts'
import type { CardError, ChargeRec, PaymentIntentRec, PaymentMethodRec, RefundRec } from '../store.ts'
import { emptyAddress, need, type RenderCtx } from './context.ts'

const billingDetails = (email: string | null, name: string | null): JsonObject =>
  ({ address: emptyAddress(), email, name, phone: null, tax_id: null })

export function renderPaymentMethod (pm: PaymentMethodRec): JsonObject {
  return {
    id: pm.id,
    object: 'payment_method',
    allow_redisplay: 'unspecified',
    billing_details: billingDetails(pm.billingEmail, pm.billingName),
    card: {
      brand: pm.card.brand,
      checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
      country: 'US',
      display_brand: pm.card.brand,
      exp_month: 12,
      exp_year: 2034,
      fingerprint: `fp${pm.card.last4}local`,
      funding: pm.card.funding,
      generated_from: null,
      last4: pm.card.last4,
      networks: { available: [pm.card.brand], preferred: null },
      regulated_status: 'unregulated',
      three_d_secure_usage: { supported: true },
      wallet: null,
    },
    created: pm.created,
    customer: pm.customer,
    customer_account: null,
    livemode: pm.livemode,
    metadata: {},
    type: 'card',
  }
}

function renderCardError (e: CardError, ctx: RenderCtx): JsonObject {
  const pm = ctx.st.get('payment_method', e.paymentMethod)
  return {
    charge: e.charge,
    code: e.code,
    decline_code: e.declineCode,
    doc_url: `https://stripe.com/docs/error-codes/${e.code.replaceAll('_', '-')}`,
    message: e.message,
    ...(pm ? { payment_method: renderPaymentMethod(pm) } : {}),
    type: 'card_error',
  }
}

export function renderPaymentIntent (pi: PaymentIntentRec, ctx: RenderCtx): JsonObject {
  return {
    id: pi.id,
    object: 'payment_intent',
    amount: pi.amount,
    amount_capturable: 0,
    amount_details: { tip: {} },
    amount_received: pi.amountReceived,
    application: null,
    application_fee_amount: null,
    automatic_payment_methods: null,
    canceled_at: pi.canceledAt,
    cancellation_reason: pi.cancellationReason,
    capture_method: 'automatic_async',
    client_secret: pi.clientSecret,
    confirmation_method: 'automatic',
    created: pi.created,
    currency: pi.currency,
    customer: pi.customer,
    customer_account: null,
    description: pi.description,
    excluded_payment_method_types: null,
    last_payment_error: pi.lastError ? renderCardError(pi.lastError, ctx) : null,
    latest_charge: pi.latestCharge,
    livemode: pi.livemode,
    managed_payments: null,
    metadata: { ...pi.metadata },
    next_action: null,
    on_behalf_of: null,
    payment_method: pi.paymentMethod,
    payment_method_configuration_details: null,
    payment_method_options: { card: { installments: null, mandate_options: null, network: null, request_three_d_secure: 'automatic' } },
    payment_method_types: [...pi.paymentMethodTypes],
    processing: null,
    receipt_email: pi.receiptEmail,
    review: null,
    setup_future_usage: null,
    shipping: pi.shipping,
    source: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: pi.status,
    transfer_data: null,
    transfer_group: null,
  }
}

export function renderCharge (ch: ChargeRec, ctx: RenderCtx): JsonObject {
  const pm = need(ctx, 'payment_method', ch.paymentMethod)
  const ok = ch.status === 'succeeded'
  return {
    id: ch.id,
    object: 'charge',
    amount: ch.amount,
    amount_captured: ok ? ch.amount : 0,
    amount_refunded: ch.amountRefunded,
    application: null,
    application_fee: null,
    application_fee_amount: null,
    balance_transaction: ch.balanceTransaction,
    billing_details: billingDetails(ch.billingEmail, ch.billingName),
    calculated_statement_descriptor: 'STRIPE LOCAL',
    captured: ok,
    created: ch.created,
    currency: ch.currency,
    customer: ch.customer,
    description: ch.description,
    disputed: false,
    failure_balance_transaction: null,
    failure_code: ch.failure?.code ?? null,
    failure_message: ch.failure?.message ?? null,
    fraud_details: {},
    livemode: ch.livemode,
    metadata: { ...ch.metadata },
    on_behalf_of: null,
    outcome: ok
      ? { advice_code: null, network_advice_code: null, network_decline_code: null, network_status: 'approved_by_network', reason: null, risk_level: 'normal', risk_score: 20, seller_message: 'Payment complete.', type: 'authorized' }
      : { advice_code: 'try_again_later', network_advice_code: null, network_decline_code: null, network_status: 'declined_by_network', reason: ch.failure?.declineCode ?? 'generic_decline', risk_level: 'normal', risk_score: 20, seller_message: 'The bank did not return any further details with this decline.', type: 'issuer_declined' },
    paid: ok,
    payment_intent: ch.paymentIntent,
    payment_method: ch.paymentMethod,
    payment_method_details: {
      card: {
        amount_authorized: ok ? ch.amount : null,
        authorization_code: ok ? '123456' : null,
        brand: pm.card.brand,
        checks: { address_line1_check: null, address_postal_code_check: null, cvc_check: 'pass' },
        country: 'US',
        exp_month: 12,
        exp_year: 2034,
        extended_authorization: { status: 'disabled' },
        fingerprint: `fp${pm.card.last4}local`,
        funding: pm.card.funding,
        incremental_authorization: { status: 'unavailable' },
        installments: null,
        last4: pm.card.last4,
        mandate: null,
        multicapture: { status: 'unavailable' },
        network: pm.card.brand,
        network_token: { used: false },
        network_transaction_id: null,
        overcapture: { maximum_amount_capturable: ch.amount, status: 'unavailable' },
        regulated_status: 'unregulated',
        three_d_secure: null,
        wallet: null,
      },
      type: 'card',
    },
    receipt_email: ch.receiptEmail,
    receipt_number: null,
    receipt_url: `${ctx.baseUrl}/_local/receipts/${ch.id}`,
    refunded: ch.amountRefunded > 0 && ch.amountRefunded >= ch.amount,
    review: null,
    shipping: null,
    source: null,
    source_transfer: null,
    statement_descriptor: null,
    statement_descriptor_suffix: null,
    status: ch.status,
    transfer_data: null,
    transfer_group: null,
  }
}

export const renderRefund = (r: RefundRec): JsonObject => ({
  id: r.id,
  object: 'refund',
  amount: r.amount,
  balance_transaction: r.balanceTransaction,
  charge: r.charge,
  created: r.created,
  currency: r.currency,
  customer: null,
  customer_account: null,
  destination_details: { card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' }, type: 'card' },
  metadata: { ...r.metadata },
  payment_intent: r.paymentIntent,
  payment_method: r.paymentMethod,
  reason: r.reason,
  receipt_number: null,
  source_transfer_reversal: null,
  status: 'succeeded',
  transfer_reversal: null,
})

export function renderChargeRefunds (ch: ChargeRec, ctx: RenderCtx): JsonObject {
  const data = ctx.st.all('refund').filter(r => r.charge === ch.id).map(renderRefund)
  return { object: 'list', data, has_more: false, total_count: data.length, url: `/v1/charges/${ch.id}/refunds` }
}
