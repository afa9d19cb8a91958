import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { ProjectParams, problems } from '../../platform/http/schemas.ts'
import { ApiKeyList, ApiKeyParams, CreateApiKeyBody, CreatedApiKey, RevokedApiKey } from './schemas.ts'
import { createApiKeysService } from './service.ts'
import { apiKeyView } from './views.ts'
import { isoOrNull } from '../../platform/time.ts'

/** The developer's backend's keys for a project: created (shown once), listed, revoked. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createApiKeysService({ db: app.db, changes: app.changes })
  app.addHook('onRequest', app.authenticateDeveloper)
  const security = [{ developer: [] }]

  app.post('/projects/:project_id/api-keys', {
    schema: { tags: ['api keys'], operationId: 'createApiKey', security, params: ProjectParams, body: CreateApiKeyBody, response: { 201: CreatedApiKey, ...problems(400, 401, 404) } },
  }, async (req, reply) => {
    const { row, key } = await service.create(developerOf(req).id, req.params.project_id, req.body.mode, req.body.name)
    return reply.code(201).header('cache-control', 'no-store').send({ ...apiKeyView(row), key })
  })

  app.get('/projects/:project_id/api-keys', {
    schema: { tags: ['api keys'], operationId: 'listApiKeys', security, params: ProjectParams, response: { 200: ApiKeyList, ...problems(400, 401, 404) } },
  }, async (req) => ({ data: (await service.list(developerOf(req).id, req.params.project_id)).map(apiKeyView) }))

  app.delete('/projects/:project_id/api-keys/:key_id', {
    schema: { tags: ['api keys'], operationId: 'revokeApiKey', security, params: ApiKeyParams, response: { 200: RevokedApiKey, ...problems(400, 401, 404) } },
  }, async (req) => {
    const row = await service.revoke(developerOf(req).id, req.params.project_id, req.params.key_id)
    return { id: row.id, revoked_at: isoOrNull(row.revokedAt) }
  })
}
export default routes
