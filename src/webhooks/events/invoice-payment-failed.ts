import { invoiceEvent } from './invoice-common.ts'

/** invoice.payment_failed: a subscription payment attempt failed (a later success still wins). */
export const invoicePaymentFailed = invoiceEvent<'invoice.payment_failed'>('failed')
