import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from './errors.ts'

interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  code: string
  [key: string]: unknown
}

const titles: Record<number, string> = {
  400: 'Bad request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed',
  402: 'Payment required', 409: 'Conflict', 413: 'Payload too large', 422: 'Unprocessable content', 415: 'Unsupported media type', 429: 'Too many requests',
  500: 'Internal server error', 502: 'Bad gateway', 503: 'Service unavailable', 504: 'Gateway timeout',
}

export function problem (status: number, code: string, detail: string, extra: Record<string, unknown> = {}): ProblemBody {
  return { type: `urn:stripe-platform:problem:${code}`, title: titles[status] ?? 'Error', status, detail, code, ...extra }
}

/** Fastify's own 4xx errors, by code, with the stable code we promise instead. */
const fastifyCodes: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'malformed_json', 'The body is not valid JSON'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'malformed_json', 'The body is empty but the content type says JSON'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'The body is larger than this endpoint accepts'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'Unsupported content type'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'bad_content_length', 'Content-Length does not match the body'],
}

export function toProblem (err: FastifyError | AppError | Error): ProblemBody {
  if (err instanceof AppError) return problem(err.status, err.code, err.detail, err.extra)
  const fe = err as FastifyError
  if (fe.validation) {
    const errors = fe.validation.map((v) => ({
      path: `${fe.validationContext ?? 'request'}${v.instancePath || ''}${v.params && 'additionalProperty' in v.params ? `/${String(v.params.additionalProperty)}` : ''}`,
      message: v.message ?? 'is invalid',
    }))
    return problem(400, 'validation_failed', fe.message, { errors })
  }
  const known = fe.code ? fastifyCodes[fe.code] : undefined
  if (known) return problem(known[0], known[1], known[2])
  if (err instanceof SyntaxError) return problem(400, 'malformed_json', 'The body is not valid JSON')
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return problem(fe.statusCode, (fe.code ?? 'bad_request').toLowerCase(), fe.message)
  }
  return problem(500, 'internal_error', 'An unexpected error occurred; it has been logged')
}

export function sendProblem (reply: FastifyReply, body: ProblemBody): FastifyReply {
  return reply.code(body.status).type('application/problem+json; charset=utf-8').send(body)
}

/** Every error leaves as problem+json; a 5xx says little to the caller and everything to the log. */
export default fp(async (app) => {
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const body = toProblem(err)
    if (body.status >= 500) req.log.error({ err }, 'request failed')
    else req.log.info({ code: body.code, status: body.status }, 'request rejected')
    if (body.status === 429 && err instanceof AppError && typeof err.extra.retry_after === 'number') {
      reply.header('retry-after', String(err.extra.retry_after))
    }
    return sendProblem(reply, { ...body, instance: req.url.split('?')[0] ?? req.url })
  })
  app.setNotFoundHandler((req, reply) =>
    sendProblem(reply, problem(404, 'route_not_found', `No route ${req.method} ${req.url.split('?')[0] ?? ''}`)))
}, { name: 'problem' })
