import { idOf } from '../../platform/stripe/objects.ts'
import { creditEffects } from '../../modules/credits/effects.ts'
import { purchaseOp } from '../../modules/credits/model.ts'
import { paymentEffect } from '../../modules/payments/effects.ts'
import { endUserFromMetadata } from '../../modules/payments/end-user-model.ts'
import type { BaseStatus } from '../../modules/payments/transaction-model.ts'
import type { EventDefinition, EventOf } from '../event.ts'
import { PaymentIntentObject } from '../event-objects.ts'
import { unixToDate } from '../../platform/time.ts'

export type PaymentIntentEventType = 'payment_intent.succeeded' | 'payment_intent.payment_failed' | 'payment_intent.canceled'

/**
 * One-time payments are counted from payment intent events (kind `one_time`). A payment intent that
 * an invoice created lands on the invoice's row (matched by payment intent id), whichever came first.
 */
export function paymentIntentEvent<T extends PaymentIntentEventType> (status: BaseStatus): EventDefinition<T> {
  return {
    object: PaymentIntentObject,
    effects (scope, delivered) {
      const event = delivered as EventOf<PaymentIntentEventType>
      const pi = event.data.object
      const at = unixToDate(event.created)
      const endUserId = endUserFromMetadata(pi.metadata, scope.project.id, scope.mode)
      const credits = status === 'succeeded'
        ? purchaseOp({ project: scope.project.id, mode: scope.mode }, { end_user: endUserId, customer: idOf(pi.customer) }, pi.metadata, {
          paymentIntentId: pi.id, paid: pi.amount_received > 0 ? pi.amount_received : pi.amount, paidAt: at, description: pi.description,
        })
        : null
      return [paymentEffect(scope, {
        source: 'payment_intent',
        keys: { paymentIntentId: pi.id, chargeId: status === 'succeeded' ? idOf(pi.latest_charge) : null },
        amount: status === 'succeeded' && pi.amount_received > 0 ? pi.amount_received : pi.amount,
        currency: pi.currency,
        description: pi.description,
        endUserId,
        customerId: idOf(pi.customer),
        status,
        ...(status === 'succeeded' ? { succeededAt: at } : status === 'failed' ? { failedAt: at } : {}),
        createIfMissing: true,
      }), ...creditEffects(credits)]
    },
  }
}
