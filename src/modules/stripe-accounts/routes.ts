import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { stripeConfigView, webhookUrl } from './views.ts'
import { ownedProject } from '../projects/service.ts'
import { findConfigsFor } from './repository.ts'
import { ModeQuery, ProjectParams, modeOf, problems } from '../../platform/http/schemas.ts'
import { PutStripeConfigBody, StripeConfigView, ValidateBody, ValidationResult, WebhookUrls } from './schemas.ts'
import { createStripeConfigService } from './service.ts'
import { createWebhookEndpointService } from './webhook-endpoints.ts'
import { HANDLED_EVENT_TYPES } from '../../webhooks/registry.ts'

/** Mounted at /payments/stripe/projects: a developer's own projects only; anyone else's is 404. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createStripeConfigService({ db: app.db, config: app.config, changes: app.changes, resolver: app.stripeResolver })
  const endpoints = createWebhookEndpointService({ db: app.db, config: app.config, changes: app.changes, resolver: app.stripeResolver })
  const base = app.config.publicBaseUrl
  app.addHook('onRequest', app.authenticateDeveloper)
  const common = { tags: ['stripe-config'], security: [{ developer: [] }], params: ProjectParams }

  app.get('/:project_id/config', {
    schema: { ...common, operationId: 'getStripeConfig', querystring: ModeQuery, response: { 200: StripeConfigView, ...problems(400, 401, 404) } },
  }, async (req) => {
    const mode = modeOf(req.query)
    const row = await service.get(developerOf(req).id, req.params.project_id, mode)
    return stripeConfigView(base, req.params.project_id, mode, row)
  })

  app.put('/:project_id/config', {
    schema: { ...common, operationId: 'putStripeConfig', querystring: ModeQuery, body: PutStripeConfigBody, response: { 200: StripeConfigView, ...problems(400, 401, 404, 409, 502, 504) } },
  }, async (req) => {
    const mode = modeOf(req.query)
    let row = await service.put(developerOf(req).id, req.params.project_id, mode, req.body)
    // A managed webhook endpoint must be reachable with the new key (same account); otherwise it is re-created.
    // Best effort: the keys are saved either way, and POST .../webhook-endpoint repairs it later.
    const checked = await endpoints.recheckAfterKeyChange(req.params.project_id, mode).catch((err: unknown) => {
      req.log.warn({ err }, 'managed webhook endpoint check after a key change failed')
      return 'failed' as const
    })
    if (checked === 'recreated') row = await service.get(developerOf(req).id, req.params.project_id, mode) ?? row
    return stripeConfigView(base, req.params.project_id, mode, row)
  })

  app.delete('/:project_id/config', {
    schema: { ...common, operationId: 'deactivateStripeConfig', summary: 'Deactivate: no new checkouts; webhooks still verified and recorded', querystring: ModeQuery, response: { 200: StripeConfigView, ...problems(400, 401, 404) } },
  }, async (req) => {
    const mode = modeOf(req.query)
    const row = await service.deactivate(developerOf(req).id, req.params.project_id, mode)
    return stripeConfigView(base, req.params.project_id, mode, row)
  })

  app.get('/:project_id/webhook-urls', {
    schema: { ...common, operationId: 'getWebhookUrls', response: { 200: WebhookUrls, ...problems(400, 401, 404) } },
  }, async (req) => {
    const projectId = req.params.project_id
    await ownedProject(app.db, developerOf(req).id, projectId)
    const configs = await findConfigsFor(app.db, [projectId])
    const secretSet = (mode: 'test' | 'live') => configs.some((c) => c.mode === mode && Boolean(c.webhookSecret ?? c.managedWebhookSecret))
    return {
      project_id: projectId,
      test: { url: webhookUrl(base, projectId, 'test'), webhook_secret_set: secretSet('test') },
      live: { url: webhookUrl(base, projectId, 'live'), webhook_secret_set: secretSet('live') },
      events: [...HANDLED_EVENT_TYPES],
    }
  })

  app.post('/:project_id/validate-credentials', {
    schema: {
      ...common, operationId: 'validateStripeCredentials', summary: 'Call Stripe with the stored key and remember its account',
      querystring: ModeQuery, body: ValidateBody, response: { 200: ValidationResult, ...problems(400, 401, 404, 409, 502, 504) },
    },
    // The body is optional: a bare POST validates without confirming an account change.
    preValidation: async (req) => { req.body ??= {} },
  }, async (req) => {
    return service.validate(developerOf(req).id, req.params.project_id, modeOf(req.query), req.body.confirm_account_change ?? false)
  })
}
export default routes
