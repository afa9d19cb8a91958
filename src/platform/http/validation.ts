import Ajv, { type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyInstance } from 'fastify'

/**
 * Querystrings and path params arrive as strings and are coerced to their schema's types; JSON
 * bodies are not, so `{"name": 42}` is a validation error rather than the name "42".
 * Unknown properties are refused, never silently dropped.
 */
export function installValidators (app: FastifyInstance): void {
  const base: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false }
  const strictAjv = addFormats.default(new Ajv.default({ ...base, coerceTypes: false }))
  const coercingAjv = addFormats.default(new Ajv.default({ ...base, coerceTypes: 'array' }))
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strictAjv : coercingAjv).compile(schema))
}
