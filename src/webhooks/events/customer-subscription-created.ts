import { trialOp } from '../../modules/credits/model.ts'
import { subscriptionEvent, subscriptionOwner } from './subscription-common.ts'

/** customer.subscription.created: the subscription row, its status bucket and MRR, and a new subscription on its created day. */
export const customerSubscriptionCreated = subscriptionEvent<'customer.subscription.created'>((scope, sub) => {
  const { owner, who } = subscriptionOwner(scope, sub)
  return [trialOp(owner, who, sub)]
})
