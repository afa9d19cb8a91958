import { subscriptionEvent } from './subscription-common.ts'

/** customer.subscription.updated: the subscription row, its status bucket and MRR. */
export const customerSubscriptionUpdated = subscriptionEvent<'customer.subscription.updated'>()
