import type Stripe from 'stripe'
import type { EffectScope } from '../../platform/db/effects.ts'
import { idOf } from '../../platform/stripe/objects.ts'
import { creditEffects } from '../../modules/credits/effects.ts'
import { purchaseOp } from '../../modules/credits/model.ts'
import { customerLinkEffect, paymentEffect, subscriptionEndUserEffect } from '../../modules/payments/effects.ts'
import { endUserFromMetadata, validEndUserId } from '../../modules/payments/end-user-model.ts'
import type { EventDefinition } from '../event.ts'
import { CheckoutSessionObject } from '../event-objects.ts'
import { unixToDate } from '../../platform/time.ts'

/** The end user our checkout named: metadata end_user_id, or client_reference_id on a session tagged with this project. */
export function endUserOfSession (scope: EffectScope, session: Stripe.Checkout.Session): string | null {
  return endUserFromMetadata(session.metadata, scope.project.id, scope.mode) ??
    (session.metadata?.project_id === scope.project.id ? validEndUserId(session.client_reference_id) : null)
}

/**
 * checkout.session.completed: links the end user to the Stripe customer and subscription, and
 * completes the pending one-time transaction the checkout created (never a second row).
 */
export const checkoutSessionCompleted: EventDefinition<'checkout.session.completed'> = {
  object: CheckoutSessionObject,
  effects (scope, event) {
    const session = event.data.object
    const endUserId = endUserOfSession(scope, session)
    const customerId = idOf(session.customer)
    const subscriptionId = idOf(session.subscription)
    const effects = endUserId && customerId ? [customerLinkEffect(scope, endUserId, customerId)] : []
    if (session.mode === 'subscription') {
      if (endUserId && subscriptionId) effects.push(subscriptionEndUserEffect(scope, subscriptionId, endUserId))
      return effects
    }
    if (session.mode !== 'payment') return effects
    const paid = session.payment_status === 'paid'
    effects.push(paymentEffect(scope, {
      source: 'checkout',
      keys: { checkoutSessionId: session.id, paymentIntentId: idOf(session.payment_intent) },
      amount: session.amount_total,
      currency: session.currency,
      endUserId,
      customerId,
      status: paid ? 'succeeded' : 'pending',
      ...(paid ? { succeededAt: unixToDate(event.created) } : {}),
      createIfMissing: true,
    }))
    // A paid purchase of credits: its lot (granted once, whichever of this and payment_intent.succeeded comes first).
    if (paid) {
      effects.push(...creditEffects(purchaseOp({ project: scope.project.id, mode: scope.mode }, { end_user: endUserId, customer: customerId }, session.metadata, {
        paymentIntentId: idOf(session.payment_intent), paid: session.amount_total, paidAt: unixToDate(event.created), description: null,
      })))
    }
    return effects
  },
}
