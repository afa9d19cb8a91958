import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { badRequest, internalError, notFound } from '../platform/http/errors.ts'
import type { Mode } from '../platform/stripe/client.ts'
import { Problem } from '../platform/http/schemas.ts'
import { isUuid } from '../platform/uuid.ts'
import { WebhookParams, WebhookReceived } from './schemas.ts'
import { STATS_SHARDS } from '../modules/stats/repository.ts'
import { WebhookBatcher } from './pipeline/batcher.ts'
import { processEvent, WebhookProcessingError } from './pipeline/process.ts'
import { verifyWebhook, WebhookVerificationError } from './verify.ts'

export const WEBHOOK_BODY_LIMIT = 1024 * 1024
/** Events in one batched write at most, and batches in flight per instance (pipeline/batcher.ts). */
const MAX_BATCH = 100
const BATCH_CONCURRENCY = 1

/**
 * `POST /payments/stripe/webhooks/{project_id}/{mode}`: the one entry for every Stripe event.
 * This plugin has its own content-type parser (raw bytes, 1 MiB): the signature is over the exact
 * body, so nothing may parse or re-serialise it before verify.ts.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  // One batch in flight per instance: events that arrive meanwhile make the next batch larger, which
  // costs the database less per event than more, smaller batches in parallel (bench/RESULTS.md).
  // The embedded database runs the same batches: one code path writes every event.
  const batcher = new WebhookBatcher(app.db, { concurrency: BATCH_CONCURRENCY, maxBatch: MAX_BATCH, slots: STATS_SHARDS })

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_req, body, done) => { done(null, body) })

  app.post('/:project_id/:mode', {
    bodyLimit: WEBHOOK_BODY_LIMIT,
    schema: {
      tags: ['webhooks'],
      operationId: 'receiveStripeWebhook',
      summary: 'Stripe delivers events here, signed with the project\'s and mode\'s signing secret',
      description: 'Verified over the raw body (Stripe-Signature, 300 s tolerance, several v1 signatures), livemode checked against the mode, recorded once per event id atomically with its effects. 200 only after commit (also for a duplicate or an ignored type); 5xx when processing failed (Stripe retries).',
      params: WebhookParams,
      response: { 200: WebhookReceived, 400: Problem, 404: Problem, 413: Problem, 415: Problem, 500: Problem },
    },
  }, async (req) => {
    const { project_id: rawProjectId, mode: rawMode } = req.params
    const projectId = rawProjectId.toLowerCase()
    if ((rawMode !== 'test' && rawMode !== 'live') || !isUuid(projectId)) throw notFound('webhook endpoint')
    const mode: Mode = rawMode
    const resolved = await app.stripeResolver.resolve(projectId, mode)
    if (!resolved) throw notFound('webhook endpoint')
    const body = req.body
    if (!Buffer.isBuffer(body)) throw badRequest('malformed_body', 'The body is missing')
    const signature = req.headers['stripe-signature']

    let verified
    try {
      // A deactivated configuration still verifies: no event for money already taken is lost.
      verified = verifyWebhook({ rawBody: body, signatureHeader: typeof signature === 'string' ? signature : undefined, secrets: resolved.webhookSecrets, mode })
    } catch (err) {
      if (err instanceof WebhookVerificationError) throw badRequest(err.reason, err.message)
      throw err
    }
    const { event, payload } = verified
    try {
      const outcome = await processEvent(app.db, {
        project: { id: projectId, developerId: resolved.developerId },
        mode,
        event,
        payload,
        stripe: async () => resolved.stripe,
        batcher,
      })
      req.log.info({ event_id: event.id, type: event.type, outcome }, 'webhook')
      if (outcome === 'duplicate') return { received: true as const, duplicate: true }
      if (outcome === 'ignored') return { received: true as const, ignored: true }
      return { received: true as const }
    } catch (err) {
      if (err instanceof WebhookProcessingError) {
        req.log.error({ err: err.cause, event_id: event.id, type: event.type }, 'webhook processing failed')
        throw internalError('webhook_processing_failed', 'The event could not be processed; it has been recorded as failed and will be processed when Stripe retries')
      }
      throw err
    }
  })
}
export default routes
