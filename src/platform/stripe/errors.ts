import Stripe from 'stripe'
import { AppError } from '../http/errors.ts'

/**
 * A Stripe failure as the caller should see it: Stripe's code, never a stack, never a key.
 * Stripe's own messages mask keys (sk_test_****abcd), but we still never forward them verbatim.
 */
export function fromStripeError (err: unknown): AppError {
  if (err instanceof Stripe.errors.StripeError) {
    const extra = { stripe_code: err.code ?? null, stripe_type: err.type, stripe_request_id: err.requestId ?? null }
    if (err instanceof Stripe.errors.StripeCardError) return new AppError(402, 'stripe_card_error', 'Payment required', `Stripe declined the payment (${err.decline_code ?? err.code ?? 'card_error'})`, extra)
    if (err instanceof Stripe.errors.StripeAuthenticationError) return new AppError(502, 'stripe_authentication_failed', 'Bad gateway', 'Stripe rejected the stored API key for this project and mode', extra)
    if (err instanceof Stripe.errors.StripePermissionError) return new AppError(502, 'stripe_permission_denied', 'Bad gateway', 'The stored key lacks a permission this operation needs', extra)
    if (err instanceof Stripe.errors.StripeRateLimitError) return new AppError(503, 'stripe_rate_limited', 'Service unavailable', 'Stripe is rate limiting this account; retry shortly', extra)
    if (err instanceof Stripe.errors.StripeInvalidRequestError) return new AppError(400, 'stripe_invalid_request', 'Bad request', `Stripe refused the request (${err.code ?? 'invalid_request'}${err.param ? `, param ${err.param}` : ''})`, extra)
    if (err instanceof Stripe.errors.StripeConnectionError) {
      const timedOut = /timed? ?out/i.test(err.message)
      return timedOut
        ? new AppError(504, 'stripe_timeout', 'Gateway timeout', 'Stripe did not answer in time', extra)
        : new AppError(502, 'stripe_unreachable', 'Bad gateway', 'Stripe could not be reached', extra)
    }
    return new AppError(502, 'stripe_api_error', 'Bad gateway', `Stripe answered with an error (${err.code ?? err.type})`, extra)
  }
  if (err instanceof AppError) return err
  return new AppError(502, 'stripe_api_error', 'Bad gateway', 'Calling Stripe failed')
}

export const isStripeError = (err: unknown): err is Stripe.errors.StripeError => err instanceof Stripe.errors.StripeError

/** Why Stripe refused a key (its code, else invalid_api_key or permission_denied); null for any other failure. */
export function rejectedKeyReason (err: unknown): string | null {
  if (!isStripeError(err) || (err.type !== 'StripeAuthenticationError' && err.type !== 'StripePermissionError')) return null
  return err.code ?? (err.type === 'StripeAuthenticationError' ? 'invalid_api_key' : 'permission_denied')
}
