import { applyTransactionFacts } from '../apply-transaction.ts'
import { idOf, type EventOf, type WebhookHandler } from '../context.ts'
import { sessionLockKeys } from './checkout-session-completed.ts'

type Expired = EventOf<'checkout.session.expired'>

/** checkout.session.expired: the pending transaction the checkout created becomes `expired` (nothing is created). */
export const checkoutSessionExpired: WebhookHandler<'checkout.session.expired'> = {
  singleWrite: true,
  lockKeys: (event: Expired) => sessionLockKeys(event.data.object),
  async handle (ctx, event: Expired) {
    const session = event.data.object
    await applyTransactionFacts(ctx, {
      source: 'checkout',
      keys: { checkoutSessionId: session.id, paymentIntentId: idOf(session.payment_intent) },
      status: 'expired',
      createIfMissing: false,
    })
  },
}
