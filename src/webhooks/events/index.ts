import type { HandledEventType } from '../registry.ts'
import type { WebhookHandler } from '../pipeline/context.ts'
import { chargeRefunded } from './charge-refunded.ts'
import { checkoutSessionCompleted } from './checkout-session-completed.ts'
import { checkoutSessionExpired } from './checkout-session-expired.ts'
import { customerSubscriptionCreated } from './customer-subscription-created.ts'
import { customerSubscriptionDeleted } from './customer-subscription-deleted.ts'
import { customerSubscriptionUpdated } from './customer-subscription-updated.ts'
import { invoicePaid } from './invoice-paid.ts'
import { invoicePaymentFailed } from './invoice-payment-failed.ts'
import { paymentIntentCanceled } from './payment-intent-canceled.ts'
import { paymentIntentPaymentFailed } from './payment-intent-payment-failed.ts'
import { paymentIntentSucceeded } from './payment-intent-succeeded.ts'

/** Event type → its handler; the mapped type makes a missing or misnamed handler a compile error. */
export const handlers: { [K in HandledEventType]: WebhookHandler<K, unknown> } = {
  'checkout.session.completed': checkoutSessionCompleted,
  'checkout.session.expired': checkoutSessionExpired,
  'customer.subscription.created': customerSubscriptionCreated,
  'customer.subscription.updated': customerSubscriptionUpdated,
  'customer.subscription.deleted': customerSubscriptionDeleted,
  'invoice.paid': invoicePaid,
  'invoice.payment_failed': invoicePaymentFailed,
  'payment_intent.succeeded': paymentIntentSucceeded,
  'payment_intent.payment_failed': paymentIntentPaymentFailed,
  'payment_intent.canceled': paymentIntentCanceled,
  'charge.refunded': chargeRefunded,
}
