import { paymentIntentEvent } from './payment-intent-common.ts'

/** payment_intent.payment_failed: an attempt failed; never undoes a success. */
export const paymentIntentPaymentFailed = paymentIntentEvent<'payment_intent.payment_failed'>('failed')
