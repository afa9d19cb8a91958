import type Stripe from 'stripe'
import { applySubscription } from '../apply-subscription.ts'
import type { EventOf, WebhookHandler } from '../context.ts'

export type SubscriptionEventType = 'customer.subscription.created' | 'customer.subscription.updated' | 'customer.subscription.deleted'

/** The three subscription events carry the whole object; only a same-second tie needs Stripe's current copy. */
export function subscriptionHandler (): WebhookHandler<SubscriptionEventType, Stripe.Subscription> {
  return {
    singleWrite: true,
    async prefetch (event: EventOf<SubscriptionEventType>, stripe: () => Promise<Stripe>, reason: 'payload' | 'refetch') {
      if (reason !== 'refetch') return undefined
      return (await stripe()).subscriptions.retrieve(event.data.object.id)
    },
    async handle (ctx, event: EventOf<SubscriptionEventType>, fresh: Stripe.Subscription | undefined) {
      await applySubscription(ctx, fresh ?? event.data.object, fresh !== undefined)
    },
  }
}
