import type { JsonObject } from '../json.ts'
import type { CustomerRec } from '../store.ts'

export const renderCustomer = (c: CustomerRec): JsonObject => ({
  id: c.id,
  object: 'customer',
  address: null,
  balance: 0,
  created: c.created,
  currency: c.currency,
  customer_account: null,
  default_source: null,
  delinquent: c.delinquent,
  description: c.description,
  discount: null,
  email: c.email,
  invoice_prefix: c.invoicePrefix,
  invoice_settings: { custom_fields: null, default_payment_method: c.defaultPaymentMethod, footer: null, rendering_options: null },
  livemode: c.livemode,
  metadata: { ...c.metadata },
  name: c.name,
  next_invoice_sequence: c.nextInvoiceSequence,
  phone: c.phone,
  preferred_locales: [],
  shipping: null,
  tax_exempt: 'none',
  test_clock: null,
})
