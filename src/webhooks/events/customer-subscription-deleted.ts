import { closeMonthlyOp } from '../../modules/credits/model.ts'
import { subscriptionEvent, subscriptionOwner } from './subscription-common.ts'

/** customer.subscription.deleted: the subscription row, its status bucket and MRR, and a cancellation on the day it ended. */
export const customerSubscriptionDeleted = subscriptionEvent<'customer.subscription.deleted'>((scope, sub) => {
  const { owner, who } = subscriptionOwner(scope, sub)
  return [closeMonthlyOp(owner, who, sub.id)]
})
