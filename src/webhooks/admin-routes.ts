import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../modules/auth/plugin.ts'
import { internalError, notFound } from '../platform/http/errors.ts'
import type { Mode } from '../platform/stripe/client.ts'
import { ownedProject } from '../modules/projects/service.ts'
import { findEvent, listEvents, type WebhookEventRow } from './repository.ts'
import { ModeQuery, ProjectParams, modeOf, problems } from '../platform/http/schemas.ts'
import { pageOf, splitPage } from '../platform/http/pagination.ts'
import { EventList, EventListQuery, EventParams, ManagedEndpoint, ReplayResult } from './schemas.ts'
import { createWebhookEndpointService } from '../modules/stripe-accounts/webhook-endpoints.ts'
import { notConfigured } from '../modules/stripe-accounts/access.ts'
import { processEvent, WebhookProcessingError } from './pipeline/process.ts'
import type Stripe from 'stripe'
import { unixToIso } from '../platform/time.ts'

type EventStatus = 'processed' | 'ignored' | 'failed'
const statusOf = (s: string): EventStatus => (s === 'processed' || s === 'ignored' ? s : 'failed')

function eventView (e: Omit<WebhookEventRow, 'payload'>) {
  return {
    id: e.id,
    type: e.type,
    status: statusOf(e.status),
    attempts: e.attempts,
    error: e.error,
    created: unixToIso(Number(e.eventCreated)),
    received_at: e.receivedAt.toISOString(),
    processed_at: e.processedAt ? e.processedAt.toISOString() : null,
  }
}

/** The stored body (the exact text Stripe signed) as an event, or null when it is not one. */
function storedEvent (payload: string | null): Stripe.Event | null {
  if (payload === null) return null
  let value: unknown
  try { value = JSON.parse(payload) } catch { return null }
  return isStripeEvent(value) ? value : null
}

function isStripeEvent (value: unknown): value is Stripe.Event {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.id === 'string' && typeof v.type === 'string' && typeof v.created === 'number' && typeof v.data === 'object' && v.data !== null
}

/** Mounted at /payments/stripe/projects: the developer's view of webhooks (own projects only; anyone else's is 404). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const endpoints = createWebhookEndpointService({ db: app.db, config: app.config, changes: app.changes, resolver: app.stripeResolver })
  app.addHook('onRequest', app.authenticateDeveloper)
  const security = [{ developer: [] }]


  app.post('/:project_id/webhook-endpoint', {
    schema: {
      tags: ['webhooks'], security, operationId: 'ensureWebhookEndpoint',
      summary: 'Create (or find and reuse) the Stripe webhook endpoint for this project and mode',
      params: ProjectParams, querystring: ModeQuery,
      response: { 200: ManagedEndpoint, ...problems(400, 401, 404, 409, 502, 503, 504) },
    },
  }, async (req) => endpoints.ensureOwned(developerOf(req).id, req.params.project_id, modeOf(req.query)))

  app.get('/:project_id/events', {
    schema: {
      tags: ['webhooks'], security, operationId: 'listWebhookEvents', summary: 'Recorded Stripe events, newest first, with their processing status',
      params: ProjectParams, querystring: EventListQuery, response: { 200: EventList, ...problems(400, 401, 404) },
    },
  }, async (req) => {
    await ownedProject(app.db, developerOf(req).id, req.params.project_id)
    const { limit, starting_after: startingAfter, status, type } = req.query
    const mode: Mode = modeOf(req.query)
    const rows = await listEvents(app.db, req.params.project_id, mode, { status, type }, limit + 1, startingAfter)
    const { rows: page, hasMore } = splitPage(rows, limit)
    return pageOf(page, hasMore, eventView)
  })

  app.post('/:project_id/events/:event_id/replay', {
    schema: {
      tags: ['webhooks'], security, operationId: 'replayWebhookEvent',
      summary: 'Run a recorded event\'s handler again (idempotent: applied state does not change twice)',
      params: EventParams, querystring: ModeQuery, response: { 200: ReplayResult, ...problems(400, 401, 404, 500, 502, 504) },
    },
  }, async (req) => {
    const project = await ownedProject(app.db, developerOf(req).id, req.params.project_id)
    const mode = modeOf(req.query)
    const row = await findEvent(app.db, project.id, mode, req.params.event_id)
    const event = row ? storedEvent(row.payload) : null
    if (!row?.payload || !event) throw notFound('event')
    try {
      const outcome = await processEvent(app.db, {
        project: { id: project.id, developerId: project.developerId },
        mode,
        event,
        payload: row.payload,
        stripe: async () => {
          const resolved = await app.stripeResolver.resolve(project.id, mode)
          if (!resolved) throw notConfigured(mode)
          return resolved.stripe
        },
        force: true,
      })
      const after = await findEvent(app.db, project.id, mode, event.id)
      if (!after) throw notFound('event')
      return { outcome: outcome === 'ignored' ? 'ignored' as const : 'processed' as const, event: eventView(after) }
    } catch (err) {
      if (err instanceof WebhookProcessingError) {
        req.log.error({ err: err.cause, event_id: event.id }, 'replay failed')
        throw internalError('webhook_processing_failed', 'The event could not be processed; see its error in the event list')
      }
      throw err
    }
  })
}
export default routes
