import { trialOp } from '../../modules/credits/model.ts'
import { subscriptionEvent, subscriptionOwner } from './subscription-common.ts'

/** customer.subscription.updated: the subscription row, its status bucket and MRR. */
export const customerSubscriptionUpdated = subscriptionEvent<'customer.subscription.updated'>((scope, sub) => {
  const { owner, who } = subscriptionOwner(scope, sub)
  return trialOp(owner, who, sub)
})
