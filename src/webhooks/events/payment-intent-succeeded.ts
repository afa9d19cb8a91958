import { paymentIntentEvent } from './payment-intent-common.ts'

/** payment_intent.succeeded: a one-time payment succeeded (counted on this day). */
export const paymentIntentSucceeded = paymentIntentEvent<'payment_intent.succeeded'>('succeeded')
