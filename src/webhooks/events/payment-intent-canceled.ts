import { paymentIntentHandler } from './payment-intent-common.ts'

/** payment_intent.canceled: the payment will not happen. */
export const paymentIntentCanceled = paymentIntentHandler('canceled')
