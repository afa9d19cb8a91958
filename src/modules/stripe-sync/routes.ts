import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { ModeQuery, ProjectParams, modeOf, problems } from '../../platform/http/schemas.ts'
import { SyncBody, SyncParams, SyncStarted, SyncView } from './schemas.ts'
import { syncView } from './views.ts'

/** Mounted at /payments/stripe/projects: resync a project's mode from Stripe (own projects only; anyone else's is 404). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticateDeveloper)
  const common = { tags: ['stripe-sync'], security: [{ developer: [] }] }

  app.post('/:project_id/sync', {
    schema: {
      ...common, operationId: 'startStripeSync',
      summary: 'Resync after missed webhooks: replay Stripe\'s events (failed deliveries first) and, with full, the object lists',
      description: 'Runs in the background, one at a time per project and mode across instances: a second request answers the running one, and a request after an interrupted one resumes it where it stopped. Paced under Stripe\'s rate limits (20 reads/s in test mode, 80 in live) and waits out 429s.',
      params: ProjectParams, querystring: ModeQuery, body: SyncBody,
      response: { 202: SyncStarted, ...problems(400, 401, 404, 409) },
    },
  }, async (req, reply) => {
    const { row, outcome } = await app.stripeSync.request(developerOf(req).id, req.params.project_id, modeOf(req.query), req.body ?? {})
    reply.code(202)
    return { ...syncView(row), outcome }
  })

  app.get('/:project_id/sync/:sync_id', {
    schema: {
      ...common, operationId: 'getStripeSync', summary: 'A sync\'s progress',
      params: SyncParams, response: { 200: SyncView, ...problems(400, 401, 404) },
    },
  }, async (req) => syncView(await app.stripeSync.get(developerOf(req).id, req.params.project_id, req.params.sync_id)))
}
export default routes
