import { idOf } from '../../platform/stripe/objects.ts'
import { paymentEffect } from '../../modules/payments/effects.ts'
import type { EventDefinition } from '../event.ts'
import { CheckoutSessionObject } from '../event-objects.ts'

/** checkout.session.expired: the pending transaction the checkout created becomes `expired` (nothing is created). */
export const checkoutSessionExpired: EventDefinition<'checkout.session.expired'> = {
  object: CheckoutSessionObject,
  effects (scope, event) {
    const session = event.data.object
    return [paymentEffect(scope, {
      source: 'checkout',
      keys: { checkoutSessionId: session.id, paymentIntentId: idOf(session.payment_intent) },
      status: 'expired',
      createIfMissing: false,
    })]
  },
}
