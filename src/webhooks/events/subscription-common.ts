import type Stripe from 'stripe'
import { subscriptionEffect } from '../../modules/payments/effects.ts'
import type { EventDefinition, EventOf, EventType } from '../event.ts'
import { SubscriptionObject } from '../event-objects.ts'

/** Every event type whose object is a subscription. */
export type SubscriptionEventType = { [K in EventType]: EventOf<K>['data']['object'] extends Stripe.Subscription ? K : never }[EventType]

/**
 * The subscription events carry the whole object: the row follows it (status, price, periods,
 * cancellation), newer `created` winning. Only a same-second tie needs Stripe's current copy.
 */
export function subscriptionEvent<T extends SubscriptionEventType> (): EventDefinition<T, Stripe.Subscription> {
  const subscriptionOf = (event: EventOf<T>): Stripe.Subscription => (event as EventOf<SubscriptionEventType>).data.object
  return {
    object: SubscriptionObject,
    async prefetch (event, stripe, reason) {
      if (reason !== 'refetch') return undefined
      return (await stripe()).subscriptions.retrieve(subscriptionOf(event).id)
    },
    effects (scope, event, fresh) {
      return [subscriptionEffect(scope, fresh ?? subscriptionOf(event), fresh !== undefined)]
    },
  }
}
