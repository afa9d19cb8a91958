import { Type, type Static } from '@sinclair/typebox'
import { IdempotencyKeyHeader, ListOf, Mode, Nullable, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts'

/** Absolute http(s) URL; `{CHECKOUT_SESSION_ID}` placeholders are fine (no whitespace anywhere). */
export const HttpUrl = Type.String({ minLength: 10, maxLength: 2048, pattern: '^https?://[^\\s/?#]+[^\\s]*$', description: 'Absolute http(s) URL' })

export const PriceId = Type.String({ minLength: 7, maxLength: 255, pattern: '^price_[A-Za-z0-9]+$', description: 'A Stripe price of this project\'s account and mode' })

export const CheckoutMode = Type.Union([Type.Literal('subscription'), Type.Literal('payment')])
export type CheckoutMode = Static<typeof CheckoutMode>

export const ProrationBehavior = Type.Union([Type.Literal('create_prorations'), Type.Literal('none'), Type.Literal('always_invoice')])

export const CheckoutBody = Type.Object({
  price_id: Type.Optional(PriceId),
  top_up_amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 99_999_999, description: 'Instead of price_id: a custom amount (minor units) of the project\'s top-up currency, within its bounds; buys amount × credits_per_unit credits' })),
  success_url: HttpUrl,
  cancel_url: HttpUrl,
  quantity: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
  mode: Type.Optional(Type.Union([CheckoutMode], { description: 'Inferred from the price when omitted: recurring → subscription, one-time → payment' })),
  trial_period_days: Type.Optional(Type.Integer({ minimum: 1, maximum: 730, description: 'Subscription mode only' })),
  allow_promotion_codes: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })
export type CheckoutBody = Static<typeof CheckoutBody>

export const IdempotencyHeaders = IdempotencyKeyHeader('Repeat a request with the same key to get the same checkout session instead of a second one')

export const CheckoutSessionView = Type.Object({
  session_id: Type.String(),
  url: Type.String(),
  mode: CheckoutMode,
  expires_at: Timestamp,
})

/** The fields every stored subscription and payment row starts with. */
const RowOwner = {
  id: Type.String({ format: 'uuid' }),
  project_id: Type.String({ format: 'uuid' }),
  mode: Mode,
  end_user_id: Nullable(Type.String()),
}

export const SubscriptionView = Type.Object({
  ...RowOwner,
  stripe_customer_id: Type.String(),
  stripe_subscription_id: Type.String(),
  status: Type.String({ description: 'Stripe\'s status: active, trialing, past_due, canceled, incomplete, incomplete_expired, unpaid, paused' }),
  price_id: Nullable(Type.String()),
  product_id: Nullable(Type.String()),
  quantity: Type.Integer(),
  amount: Nullable(Type.Integer({ description: 'Unit amount of the price in minor units' })),
  currency: Nullable(Type.String()),
  interval: Nullable(Type.String()),
  interval_count: Nullable(Type.Integer()),
  current_period_start: NullableTimestamp,
  current_period_end: NullableTimestamp,
  trial_end: NullableTimestamp,
  cancel_at_period_end: Type.Boolean(),
  canceled_at: NullableTimestamp,
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const TransactionView = Type.Object({
  ...RowOwner,
  kind: Type.String({ description: 'one_time or invoice' }),
  status: Type.String({ description: 'pending, succeeded, failed, canceled, expired, refunded, partially_refunded' }),
  amount: Type.Integer(),
  amount_refunded: Type.Integer(),
  currency: Type.String(),
  description: Nullable(Type.String()),
  stripe_checkout_session_id: Nullable(Type.String()),
  stripe_payment_intent_id: Nullable(Type.String()),
  stripe_invoice_id: Nullable(Type.String()),
  stripe_charge_id: Nullable(Type.String()),
  created_at: Timestamp,
  succeeded_at: NullableTimestamp,
  refunded_at: NullableTimestamp,
})

export const MySubscription = Type.Object({
  data: Nullable(SubscriptionView),
  active: Type.Array(SubscriptionView, { description: 'Every subscription that bills (active, trialing, past_due), newest first' }),
  duplicate_active: Type.Boolean({ description: 'true when more than one subscription bills: two checkouts paid at once, or one made in Stripe\'s dashboard; cancel the one you do not want' }),
}, { description: '`data`: the live subscription in this mode, else the most recent ended one; null when the user never subscribed' })

export const MyPaymentsQuery = Type.Object({
  test_mode: Type.Boolean({ default: true }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  starting_after: Type.Optional(Type.String({ format: 'uuid', description: 'id of the last transaction of the previous page' })),
}, { additionalProperties: false })

export const TransactionList = ListOf(TransactionView)

export const PortalBody = Type.Object({
  return_url: HttpUrl,
}, { additionalProperties: false })

export const PortalView = Type.Object({ url: Type.String() })

export const CancelBody = Type.Object({
  at_period_end: Type.Boolean({ default: true, description: 'false cancels now' }),
}, { additionalProperties: false })

export const UpdateSubscriptionBody = Type.Object({
  price_id: Type.Optional(PriceId),
  proration_behavior: Type.Optional(ProrationBehavior),
  resume: Type.Optional(Type.Boolean({ description: 'true undoes a pending cancel at period end' })),
}, { additionalProperties: false, description: 'price_id, resume: true, or both' })
export type UpdateSubscriptionBody = Static<typeof UpdateSubscriptionBody>
