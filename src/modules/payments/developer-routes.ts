import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { developerOf } from '../auth/plugin.ts'
import { projectView, stripeConfigView } from '../stripe-accounts/views.ts'
import { listOwnedProjects } from '../projects/repository.ts'
import { findConfigsFor } from '../stripe-accounts/repository.ts'
import { ListOf, problems } from '../../platform/http/schemas.ts'
import { pageOf, splitPage } from '../../platform/http/pagination.ts'
import { Project, ProjectListQuery } from '../projects/schemas.ts'
import { StripeConfigView } from '../stripe-accounts/schemas.ts'
import dashboardRoutes from './dashboard-routes.ts'

const ProjectWithConfigs = Type.Intersect([Project, Type.Object({ test: StripeConfigView, live: StripeConfigView })])

/** Aggregated views across every project of the calling developer. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticateDeveloper)

  app.get('/projects', {
    schema: {
      tags: ['payments'], operationId: 'listPaymentProjects', summary: 'Each project with its test and live configuration status',
      security: [{ developer: [] }], querystring: ProjectListQuery, response: { 200: ListOf(ProjectWithConfigs), ...problems(400, 401) },
    },
  }, async (req) => {
    const rows = await listOwnedProjects(app.db, developerOf(req).id, req.query.limit + 1, req.query.starting_after)
    const { rows: page, hasMore } = splitPage(rows, req.query.limit)
    const configs = await findConfigsFor(app.db, page.map((p) => p.id))
    const view = (projectId: string, mode: 'test' | 'live') =>
      stripeConfigView(app.config.publicBaseUrl, projectId, mode, configs.find((c) => c.projectId === projectId && c.mode === mode))
    return pageOf(page, hasMore, (p) => ({ ...projectView(p), test: view(p.id, 'test'), live: view(p.id, 'live') }))
  })

  // /subscriptions, /transactions, /stats (behind the developer hook above).
  await app.register(dashboardRoutes)
}
export default routes
