import type Stripe from 'stripe'
import type { EffectScope } from '../../platform/db/effects.ts'
import { idOf } from '../../platform/stripe/objects.ts'
import { creditEffects } from '../../modules/credits/effects.ts'
import type { CreditOp } from '../../modules/credits/model.ts'
import { subscriptionEffect } from '../../modules/payments/effects.ts'
import { endUserFromMetadata } from '../../modules/payments/end-user-model.ts'
import type { EventDefinition, EventOf, EventType } from '../event.ts'
import { SubscriptionObject } from '../event-objects.ts'

/** Every event type whose object is a subscription. */
export type SubscriptionEventType = { [K in EventType]: EventOf<K>['data']['object'] extends Stripe.Subscription ? K : never }[EventType]

/** Who a subscription's credits go to: the end user our checkout named, or its customer's. */
export const subscriptionOwner = (scope: EffectScope, sub: Stripe.Subscription) => ({
  owner: { project: scope.project.id, mode: scope.mode },
  who: { end_user: endUserFromMetadata(sub.metadata, scope.project.id, scope.mode), customer: idOf(sub.customer) },
})

/**
 * The subscription events carry the whole object: the row follows it (status, price, periods,
 * cancellation), newer `created` winning. Only a same-second tie needs Stripe's current copy.
 * `credits` says what the event means for the end user's credits (a trial's, a plan change's, a cancellation's).
 */
export function subscriptionEvent<T extends SubscriptionEventType> (credits?: (scope: EffectScope, sub: Stripe.Subscription, event: EventOf<T>) => Array<CreditOp | null>): EventDefinition<T, Stripe.Subscription> {
  const subscriptionOf = (event: EventOf<T>): Stripe.Subscription => (event as EventOf<SubscriptionEventType>).data.object
  return {
    object: SubscriptionObject,
    async prefetch (event, stripe, reason) {
      if (reason !== 'refetch') return undefined
      return (await stripe()).subscriptions.retrieve(subscriptionOf(event).id)
    },
    effects (scope, event, fresh) {
      const sub = fresh ?? subscriptionOf(event)
      return [subscriptionEffect(scope, sub, fresh !== undefined), ...creditEffects(...(credits ? credits(scope, sub, event) : []))]
    },
  }
}
