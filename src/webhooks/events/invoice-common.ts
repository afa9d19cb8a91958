import type Stripe from 'stripe'
import { fromUnix, idOf } from '../../platform/stripe/objects.ts'
import { creditEffects } from '../../modules/credits/effects.ts'
import { planInvoiceOp } from '../../modules/credits/model.ts'
import { paymentEffect } from '../../modules/payments/effects.ts'
import { endUserFromMetadata } from '../../modules/payments/end-user-model.ts'
import type { EventDefinition, EventOf } from '../event.ts'
import { InvoiceObject } from '../event-objects.ts'
import { unixToDate } from '../../platform/time.ts'

export type InvoiceEventType = 'invoice.paid' | 'invoice.payment_failed'

/** The payment intent that paid (or tried to pay) an invoice, from its `payments` list. */
export function paymentIntentOfInvoice (invoice: Stripe.Invoice): string | null {
  const payments = invoice.payments?.data ?? []
  const chosen = payments.find((p) => p.status === 'paid') ?? payments.find((p) => p.is_default) ?? payments.at(-1)
  return idOf(chosen?.payment.payment_intent ?? null)
}

export const subscriptionOfInvoice = (invoice: Stripe.Invoice): string | null =>
  idOf(invoice.parent?.subscription_details?.subscription ?? null)

/**
 * Invoice payments are counted from invoice events, as kind `invoice`. The current API's invoice
 * payload does not name its payment intent (`payments` must be expanded), so it is read from Stripe
 * before the write; the transaction row then carries both ids, and the payment intent's own
 * events land on that same row instead of counting a second, one-time payment.
 */
export function invoiceEvent<T extends InvoiceEventType> (outcome: 'succeeded' | 'failed'): EventDefinition<T, { paymentIntentId: string | null }> {
  const narrow = (event: EventOf<T>): EventOf<InvoiceEventType> => event as EventOf<InvoiceEventType>
  return {
    object: InvoiceObject,
    async prefetch (event, stripe) {
      const invoice = narrow(event).data.object
      if (!invoice.id || invoice.total === 0 || invoice.payments?.data?.length) return undefined
      const full = await (await stripe()).invoices.retrieve(invoice.id, { expand: ['payments'] })
      return { paymentIntentId: paymentIntentOfInvoice(full) }
    },
    effects (scope, delivered, prefetched) {
      const event = narrow(delivered)
      const invoice = event.data.object
      // A zero invoice (a trial's first) moves no money: nothing to count.
      if (!invoice.id || invoice.total === 0) return []
      const paidAt = fromUnix(invoice.status_transitions?.paid_at) ?? unixToDate(event.created)
      const paymentIntentId = prefetched?.paymentIntentId ?? paymentIntentOfInvoice(invoice)
      const endUserId = endUserFromMetadata(invoice.parent?.subscription_details?.metadata, scope.project.id, scope.mode)
      const subscriptionId = subscriptionOfInvoice(invoice)
      // A paid invoice of a subscription grants its plan's credits for the period (a trial's zero invoice grants nothing).
      const credits = outcome === 'succeeded' && subscriptionId
        ? planInvoiceOp({ project: scope.project.id, mode: scope.mode }, { end_user: endUserId, customer: idOf(invoice.customer) }, invoice, paymentIntentId, subscriptionId)
        : null
      return [paymentEffect(scope, {
        source: 'invoice',
        keys: { invoiceId: invoice.id, paymentIntentId },
        amount: invoice.total,
        currency: invoice.currency,
        description: invoice.description ?? invoice.lines?.data?.[0]?.description ?? null,
        endUserId,
        endUserFromCustomer: true,
        customerId: idOf(invoice.customer),
        subscriptionId,
        ...(outcome === 'succeeded'
          ? { status: 'succeeded' as const, succeededAt: paidAt }
          : { status: 'failed' as const, failedAt: unixToDate(event.created) }),
        createIfMissing: true,
      }), ...creditEffects(credits)]
    },
  }
}
