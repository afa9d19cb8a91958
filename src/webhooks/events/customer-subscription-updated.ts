import { planChangeOp, trialOp } from '../../modules/credits/model.ts'
import { subscriptionEvent, subscriptionOwner } from './subscription-common.ts'

/** customer.subscription.updated: the subscription row, its status bucket and MRR; a trial's credits, and a plan change's difference. */
export const customerSubscriptionUpdated = subscriptionEvent<'customer.subscription.updated'>((scope, sub, event) => {
  const { owner, who } = subscriptionOwner(scope, sub)
  return [trialOp(owner, who, sub), planChangeOp(owner, who, sub, event.data.previous_attributes)]
})
