import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { TSchema } from '@sinclair/typebox'
import type { EventDefinition, EventType } from './event.ts'
import { chargeRefunded } from './events/charge-refunded.ts'
import { checkoutSessionCompleted } from './events/checkout-session-completed.ts'
import { checkoutSessionExpired } from './events/checkout-session-expired.ts'
import { customerSubscriptionCreated } from './events/customer-subscription-created.ts'
import { customerSubscriptionDeleted } from './events/customer-subscription-deleted.ts'
import { customerSubscriptionPaused } from './events/customer-subscription-paused.ts'
import { customerSubscriptionResumed } from './events/customer-subscription-resumed.ts'
import { customerSubscriptionUpdated } from './events/customer-subscription-updated.ts'
import { invoicePaid } from './events/invoice-paid.ts'
import { invoicePaymentFailed } from './events/invoice-payment-failed.ts'
import { paymentIntentCanceled } from './events/payment-intent-canceled.ts'
import { paymentIntentPaymentFailed } from './events/payment-intent-payment-failed.ts'
import { paymentIntentSucceeded } from './events/payment-intent-succeeded.ts'
import { priceUpdated } from './events/price-updated.ts'
import { productUpdated } from './events/product-updated.ts'

/**
 * Event type → what the platform does with it. The handled list, the managed endpoint's
 * `enabled_events` and the payload checks all derive from this map; every other type is recorded as
 * ignored. The mapped type makes a definition filed under the wrong type a compile error.
 */
const EVENTS = {
  'checkout.session.completed': checkoutSessionCompleted,
  'checkout.session.expired': checkoutSessionExpired,
  'customer.subscription.created': customerSubscriptionCreated,
  'customer.subscription.updated': customerSubscriptionUpdated,
  'customer.subscription.deleted': customerSubscriptionDeleted,
  'customer.subscription.paused': customerSubscriptionPaused,
  'customer.subscription.resumed': customerSubscriptionResumed,
  'invoice.paid': invoicePaid,
  'invoice.payment_failed': invoicePaymentFailed,
  'payment_intent.succeeded': paymentIntentSucceeded,
  'payment_intent.payment_failed': paymentIntentPaymentFailed,
  'payment_intent.canceled': paymentIntentCanceled,
  'charge.refunded': chargeRefunded,
  'price.updated': priceUpdated,
  'product.updated': productUpdated,
} satisfies { [K in EventType]?: EventDefinition<K, unknown> }

export type HandledEventType = keyof typeof EVENTS
export const HANDLED_EVENT_TYPES = Object.keys(EVENTS) as HandledEventType[]

const isHandled = (type: string): type is HandledEventType => Object.hasOwn(EVENTS, type)

/** The definition for a type, or undefined (the event is recorded as ignored). */
export function definitionOf (type: string): EventDefinition<HandledEventType, unknown> | undefined {
  return isHandled(type) ? EVENTS[type] as EventDefinition<HandledEventType, unknown> : undefined
}

const checks = new Map<string, TypeCheck<TSchema>>(HANDLED_EVENT_TYPES.map((type) => [type, TypeCompiler.Compile(EVENTS[type].object)]))

/**
 * Why a handled event's object cannot be applied (the first missing or mistyped field), or null.
 * Names fields, never values. Types nothing handles are recorded as ignored, whatever they carry
 * (an upcoming invoice has no id, and Stripe must not retry it for days).
 */
export function eventObjectProblem (type: string, object: unknown): string | null {
  const check = checks.get(type)
  if (!check || check.Check(object)) return null
  const first = check.Errors(object).First()
  return `The ${type} event's object is not a Stripe ${expectedKind(type)}${first ? ` (${first.path || '/'}: ${first.message})` : ''}`
}

/** The kind of object an event type carries: its type without the last part (`invoice.paid` → `invoice`). */
const expectedKind = (type: string): string => type.slice(0, Math.max(0, type.lastIndexOf('.')))
