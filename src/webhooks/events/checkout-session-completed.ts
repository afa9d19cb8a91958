import { linkCustomer, linkSubscriptionEndUser } from '../../modules/payments/subscription-repository.ts'
import { applyTransactionFacts } from '../../modules/payments/transaction-model.ts'
import { endUserFromMetadata, idOf, validEndUserId, type EventOf, type HandlerContext, type TransactionalHandler } from '../pipeline/context.ts'

type Completed = EventOf<'checkout.session.completed'>
type Session = Completed['data']['object']

/** The end user our checkout named: metadata end_user_id, or client_reference_id on a session tagged with this project. */
export function endUserOfSession (ctx: HandlerContext, session: Session): string | null {
  return endUserFromMetadata(session.metadata, ctx.project.id, ctx.mode) ??
    (session.metadata?.project_id === ctx.project.id ? validEndUserId(session.client_reference_id) : null)
}

/**
 * checkout.session.completed: links the end user to the Stripe customer and subscription, and
 * completes the pending one-time transaction the checkout created (never a second row).
 */
export const checkoutSessionCompleted: TransactionalHandler<'checkout.session.completed'> = {
  singleWrite: false,
  async handle (ctx, event: Completed) {
    const session = event.data.object
    const endUserId = endUserOfSession(ctx, session)
    const customerId = idOf(session.customer)
    const subscriptionId = idOf(session.subscription)
    if (endUserId && customerId) await linkCustomer(ctx.tx, ctx.project.id, ctx.mode, endUserId, customerId)
    if (session.mode === 'subscription') {
      if (endUserId && subscriptionId) await linkSubscriptionEndUser(ctx.tx, ctx.project.id, ctx.mode, subscriptionId, endUserId)
      return
    }
    if (session.mode !== 'payment') return
    const paid = session.payment_status === 'paid'
    await applyTransactionFacts(ctx, {
      source: 'checkout',
      keys: { checkoutSessionId: session.id, paymentIntentId: idOf(session.payment_intent) },
      amount: session.amount_total,
      currency: session.currency,
      endUserId,
      customerId,
      status: paid ? 'succeeded' : 'pending',
      ...(paid ? { succeededAt: new Date(event.created * 1000) } : {}),
      createIfMissing: true,
    })
  },
}
