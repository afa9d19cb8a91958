import { subscriptionEvent } from './subscription-common.ts'

/** customer.subscription.deleted: the subscription row, its status bucket and MRR, and a cancellation on the day it ended. */
export const customerSubscriptionDeleted = subscriptionEvent<'customer.subscription.deleted'>()
