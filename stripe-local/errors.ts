import type { JsonObject } from './json.ts'

export type ErrorType = 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error'

/** Stripe's error JSON: `{error: {type, code, message, param, doc_url, ...}}` with Stripe's status. */
export class StripeError extends Error {
  constructor (
    readonly status: number,
    readonly type: ErrorType,
    message: string,
    readonly code?: string,
    readonly param?: string,
    readonly extra: JsonObject = {},
  ) {
    super(message)
  }

  body (requestId: string): JsonObject {
    const error: JsonObject = { type: this.type, message: this.message }
    if (this.code) {
      error.code = this.code
      error.doc_url = `https://stripe.com/docs/error-codes/${this.code.replaceAll('_', '-')}`
    }
    if (this.param) error.param = this.param
    Object.assign(error, this.extra)
    error.request_log_url = `https://dashboard.stripe.com/test/logs/${requestId}`
    return { error }
  }
}

export const missingParam = (param: string): StripeError =>
  new StripeError(400, 'invalid_request_error', `Missing required param: ${param}.`, 'parameter_missing', param)

export const invalidParam = (param: string, message: string, code?: string): StripeError =>
  new StripeError(400, 'invalid_request_error', message, code, param)

export const invalidRequest = (message: string, code?: string, param?: string): StripeError =>
  new StripeError(400, 'invalid_request_error', message, code, param)

export function noSuch (kind: string, id: string, param = 'id', existsInOtherMode?: 'test' | 'live'): StripeError {
  const hint = existsInOtherMode
    ? `; a similar object exists in ${existsInOtherMode} mode, but a ${existsInOtherMode === 'live' ? 'test' : 'live'} mode key was used to make this request.`
    : ''
  return new StripeError(404, 'invalid_request_error', `No such ${kind}: '${id}'${hint}`, 'resource_missing', param)
}

/** Stripe shows only the prefix and the last four characters of a bad key. */
export function maskKey (key: string): string {
  const prefix = /^(sk|rk|pk)_(test|live)_/.exec(key)?.[0] ?? ''
  return `${prefix}****${key.slice(-4)}`
}

export const authError = (key: string | null): StripeError => new StripeError(401, 'invalid_request_error', key === null
  ? "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."
  : `Invalid API Key provided: ${maskKey(key)}`)
