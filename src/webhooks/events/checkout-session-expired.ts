import { idOf, type EventOf, type SingleWriteHandler } from '../pipeline/context.ts'

type Expired = EventOf<'checkout.session.expired'>

/** checkout.session.expired: the pending transaction the checkout created becomes `expired` (nothing is created). */
export const checkoutSessionExpired: SingleWriteHandler<'checkout.session.expired'> = {
  singleWrite: true,
  intent (_scope, event: Expired) {
    const session = event.data.object
    return { kind: 'transaction', facts: {
      source: 'checkout',
      keys: { checkoutSessionId: session.id, paymentIntentId: idOf(session.payment_intent) },
      status: 'expired',
      createIfMissing: false,
    } }
  },
}
