/**
 * Typed errors, shaped once into problem+json (RFC 9457) by the error handler in http/problem.ts.
 * `detail` is shown to the caller: it must never carry a secret.
 */
export class AppError extends Error {
  constructor (
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title)
    this.name = 'AppError'
  }

  get detail (): string { return this.message }
}

export const notFound = (what: string, code = 'not_found'): AppError =>
  new AppError(404, code, 'Not found', `${what} not found`)

export const badRequest = (code: string, detail: string, extra: Record<string, unknown> = {}): AppError =>
  new AppError(400, code, 'Bad request', detail, extra)

export const conflict = (code: string, detail: string, extra: Record<string, unknown> = {}): AppError =>
  new AppError(409, code, 'Conflict', detail, extra)

export const unauthorized = (detail = 'A valid bearer token is required'): AppError =>
  new AppError(401, 'unauthorized', 'Unauthorized', detail)

/** A failure the caller cannot fix, logged where it is caught; `detail` says what happens next, never why. */
export const internalError = (code: string, detail: string): AppError =>
  new AppError(500, code, 'Internal server error', detail)
