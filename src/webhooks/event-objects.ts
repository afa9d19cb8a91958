import { Type } from '@sinclair/typebox'

/**
 * Schemas of the Stripe objects events carry, as far as the effects read them; each event file
 * names the one its type carries (a type that reads less, such as an upcoming invoice without an
 * id, would name a smaller one). Stripe always sends these fields; unknown fields are allowed, as
 * Stripe adds some in every version.
 */
const id = Type.String({ minLength: 1, maxLength: 255 })
const expandable = Type.Union([Type.String(), Type.Object({ id: Type.String() })])

export const CheckoutSessionObject = Type.Object({ object: Type.Literal('checkout.session'), id, mode: Type.String() })

export const SubscriptionObject = Type.Object({
  object: Type.Literal('subscription'), id, status: Type.String(), customer: expandable, created: Type.Integer(),
  items: Type.Object({ data: Type.Array(Type.Object({})) }),
})

export const InvoiceObject = Type.Object({ object: Type.Literal('invoice'), id, total: Type.Integer(), currency: Type.String() })

export const PaymentIntentObject = Type.Object({ object: Type.Literal('payment_intent'), id, amount: Type.Integer(), currency: Type.String() })

export const ChargeObject = Type.Object({ object: Type.Literal('charge'), id, amount: Type.Integer(), amount_refunded: Type.Integer(), currency: Type.String() })

export const PriceObject = Type.Object({
  object: Type.Literal('price'), id, product: expandable, active: Type.Boolean(), currency: Type.String({ minLength: 3, maxLength: 3 }),
  unit_amount: Type.Union([Type.Integer(), Type.Null()]),
  recurring: Type.Union([Type.Object({ interval: Type.String({ maxLength: 16 }), interval_count: Type.Integer({ minimum: 1 }) }), Type.Null()]),
})

export const ProductObject = Type.Object({ object: Type.Literal('product'), id, name: Type.String() })
