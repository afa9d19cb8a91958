import { subscriptionEvent } from './subscription-common.ts'

/** customer.subscription.resumed: the subscription row follows Stripe's `status` again (back in MRR when active). */
export const customerSubscriptionResumed = subscriptionEvent<'customer.subscription.resumed'>()
