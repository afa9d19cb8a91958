import type { Db } from '../../platform/db/client.ts'
import { badRequest, notFound } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { StripeResolver } from '../stripe-accounts/resolver.ts'
import { findProjectTransaction } from './list-repository.ts'
import { ownedProject } from '../projects/service.ts'
import { callStripe, idempotencyKey, stripeFor } from '../stripe-accounts/access.ts'
import { unixToIso } from '../../platform/time.ts'

export interface RefundsDeps { db: Db, resolver: StripeResolver }

export interface RefundRequest {
  developerId: string
  projectId: string
  transactionId: string
  amount?: number | undefined
  reason?: 'duplicate' | 'fraudulent' | 'requested_by_customer' | undefined
  /** The caller's Idempotency-Key header, if any. */
  key?: string | undefined
}

export const REFUND_PENDING_MESSAGE = 'Refund created at Stripe; the transaction and stats change when charge.refunded arrives'

const REFUNDABLE = new Set(['succeeded', 'partially_refunded'])

/**
 * Developer refunds. Our row only changes through charge.refunded (the same path as a refund made in
 * Stripe's dashboard), so the answer is 202 and says so. The checks here use what we know now; Stripe
 * stays the judge (a refund made elsewhere whose webhook has not arrived yet makes Stripe refuse an
 * over-refund: 400 stripe_invalid_request).
 */
export function createRefundService ({ db, resolver }: RefundsDeps) {
  return {
    async create (req: RefundRequest) {
      const project = await ownedProject(db, req.developerId, req.projectId)
      const tx = await findProjectTransaction(db, req.developerId, project.id, req.transactionId)
      if (!tx) throw notFound('transaction')
      if (!REFUNDABLE.has(tx.status)) {
        throw badRequest('not_refundable', `A ${tx.status} transaction cannot be refunded; only succeeded or partially refunded payments can`, { transaction_status: tx.status })
      }
      const remaining = tx.amount - tx.amountRefunded
      if (remaining <= 0) throw badRequest('not_refundable', 'The transaction is already fully refunded', { transaction_status: tx.status })
      const amount = req.amount ?? remaining
      if (amount > remaining) {
        throw badRequest('amount_exceeds_refundable', `At most ${remaining} (${tx.currency}, minor units) is left to refund`, { refundable: remaining, currency: tx.currency })
      }
      const target = tx.stripePaymentIntentId ? { payment_intent: tx.stripePaymentIntentId } : tx.stripeChargeId ? { charge: tx.stripeChargeId } : null
      if (!target) throw badRequest('not_refundable', 'The transaction has no Stripe payment to refund')

      const mode: Mode = tx.mode
      // A deactivated configuration still refunds: it only stops new checkouts; money already taken can go back.
      const { stripe } = await stripeFor(resolver, project.id, mode, false)
      // Without a caller key, a double click (same amount, same refunded-so-far) reuses one Stripe key.
      const key = req.key
        ? idempotencyKey('refund', project.id, mode, 'client', req.key)
        : idempotencyKey('refund', project.id, mode, tx.id, String(amount), String(tx.amountRefunded))
      const refund = await callStripe(() => stripe.refunds.create({
        ...target,
        amount,
        ...(req.reason ? { reason: req.reason } : {}),
        metadata: { project_id: project.id, transaction_id: tx.id },
      }, { idempotencyKey: key }))
      return {
        refund_id: refund.id,
        status: refund.status ?? 'pending',
        amount: refund.amount,
        currency: refund.currency,
        transaction_id: tx.id,
        mode,
        created_at: unixToIso(refund.created),
        applied: false as const,
        message: REFUND_PENDING_MESSAGE,
      }
    },
  }
}
