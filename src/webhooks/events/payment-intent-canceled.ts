import { paymentIntentEvent } from './payment-intent-common.ts'

/** payment_intent.canceled: the payment will not happen. */
export const paymentIntentCanceled = paymentIntentEvent<'payment_intent.canceled'>('canceled')
