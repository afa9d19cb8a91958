import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { projectView } from '../stripe-accounts/views.ts'
import { listOwnedProjects, type Project as ProjectRecord } from './repository.ts'
import { ProjectParams, problems } from '../../platform/http/schemas.ts'
import { pageOf, splitPage } from '../../platform/http/pagination.ts'
import { CreateProjectBody, Project, ProjectList, ProjectListQuery, ProjectWithSecret } from './schemas.ts'
import { createProjectsService, ownedProject } from './service.ts'

/** A project with its end-user secret: shown once, when created or rotated. */
const withSecretView = ({ project, endUserSecret }: { project: ProjectRecord, endUserSecret: string }) =>
  ({ id: project.id, name: project.name, created_at: project.createdAt.toISOString(), end_user_secret: endUserSecret })

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createProjectsService({ db: app.db, config: app.config, changes: app.changes })
  app.addHook('onRequest', app.authenticateDeveloper)
  const security = [{ developer: [] }]

  app.post('/projects', {
    schema: { tags: ['projects'], operationId: 'createProject', security, body: CreateProjectBody, response: { 201: ProjectWithSecret, ...problems(400, 401) } },
  }, async (req, reply) => {
    return reply.code(201).send(withSecretView(await service.create(developerOf(req).id, req.body.name)))
  })

  app.get('/projects', {
    schema: { tags: ['projects'], operationId: 'listProjects', security, querystring: ProjectListQuery, response: { 200: ProjectList, ...problems(400, 401) } },
  }, async (req) => {
    const rows = await listOwnedProjects(app.db, developerOf(req).id, req.query.limit + 1, req.query.starting_after)
    const { rows: page, hasMore } = splitPage(rows, req.query.limit)
    return pageOf(page, hasMore, projectView)
  })

  app.get('/projects/:project_id', {
    schema: { tags: ['projects'], operationId: 'getProject', security, params: ProjectParams, response: { 200: Project, ...problems(400, 401, 404) } },
  }, async (req) => {
    return projectView(await ownedProject(app.db, developerOf(req).id, req.params.project_id))
  })

  app.post('/projects/:project_id/end-user-secret/rotate', {
    schema: { tags: ['projects'], operationId: 'rotateEndUserSecret', security, params: ProjectParams, response: { 200: ProjectWithSecret, ...problems(400, 401, 404) } },
  }, async (req) => {
    return withSecretView(await service.rotateEndUserSecret(developerOf(req).id, req.params.project_id))
  })
}
export default routes
