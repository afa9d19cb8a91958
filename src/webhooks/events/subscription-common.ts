import type Stripe from 'stripe'
import type { EventOf, SingleWriteHandler } from '../pipeline/context.ts'

export type SubscriptionEventType = 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted'

/** The three subscription events carry the whole object; only a same-second tie needs Stripe's current copy. */
export function subscriptionHandler (): SingleWriteHandler<SubscriptionEventType, Stripe.Subscription> {
  return {
    singleWrite: true,
    async prefetch (event: EventOf<SubscriptionEventType>, stripe: () => Promise<Stripe>, reason: 'payload' | 'refetch') {
      if (reason !== 'refetch') return undefined
      return (await stripe()).subscriptions.retrieve(event.data.object.id)
    },
    intent (_scope, event: EventOf<SubscriptionEventType>, fresh: Stripe.Subscription | undefined) {
      return { kind: 'subscription', subscription: fresh ?? event.data.object, fresh: fresh !== undefined }
    },
  }
}
