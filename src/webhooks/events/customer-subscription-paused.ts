import { subscriptionEvent } from './subscription-common.ts'

/** customer.subscription.paused: the subscription row follows Stripe's `status` (`paused`: no invoices until resumed; out of MRR). */
export const customerSubscriptionPaused = subscriptionEvent<'customer.subscription.paused'>()
