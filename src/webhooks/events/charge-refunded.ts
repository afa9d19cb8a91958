import { fromUnix, idOf } from '../../platform/stripe/objects.ts'
import { creditEffects } from '../../modules/credits/effects.ts'
import { refundOp } from '../../modules/credits/model.ts'
import { paymentEffect } from '../../modules/payments/effects.ts'
import type { EventDefinition } from '../event.ts'
import { ChargeObject } from '../event-objects.ts'
import { unixToDate } from '../../platform/time.ts'

/**
 * charge.refunded: `amount_refunded` is cumulative, so it only grows; the refund counts on the day of
 * the latest refund. The charge finds its transaction by payment intent (one-time and invoice
 * payments alike) or by charge id.
 */
export const chargeRefunded: EventDefinition<'charge.refunded'> = {
  object: ChargeObject,
  effects (scope, event) {
    const charge = event.data.object
    const refunds = charge.refunds?.data ?? []
    const latest = refunds.reduce<number | null>((max, r) => (max === null || r.created > max ? r.created : max), null)
    return [paymentEffect(scope, {
      source: 'charge',
      keys: { paymentIntentId: idOf(charge.payment_intent), chargeId: charge.id },
      amount: charge.amount,
      currency: charge.currency,
      description: charge.description,
      customerId: idOf(charge.customer),
      status: 'succeeded',
      succeededAt: fromUnix(charge.created),
      amountRefunded: charge.amount_refunded,
      refundedAt: fromUnix(latest) ?? unixToDate(event.created),
      createIfMissing: true,
    }), ...creditEffects(refundOp({ project: scope.project.id, mode: scope.mode }, idOf(charge.payment_intent), charge.amount_refunded, charge.amount))]
  },
}
