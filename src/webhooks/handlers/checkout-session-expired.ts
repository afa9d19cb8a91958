import { applyTransactionFacts } from '../apply-transaction.ts'
import { idOf, type EventOf, type WebhookHandler } from '../context.ts'

type Expired = EventOf<'checkout.session.expired'>

/** checkout.session.expired: the pending transaction the checkout created becomes `expired` (nothing is created). */
export const checkoutSessionExpired: WebhookHandler<'checkout.session.expired'> = {
  singleWrite: true,
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
