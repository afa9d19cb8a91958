import { invoiceEvent } from './invoice-common.ts'

/** invoice.paid: a subscription payment succeeded (kind `invoice`), counted on the day it was paid. */
export const invoicePaid = invoiceEvent<'invoice.paid'>('succeeded')
