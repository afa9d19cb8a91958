import type { FastifyPluginAsyncTypebox, Static } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { ownedProject } from '../projects/service.ts'
import { modeOf, problems } from '../../platform/http/schemas.ts'
import {
  DashboardSubscriptionList, DashboardTransactionList, DeveloperSubscriptionQuery, DeveloperTransactionQuery, StatsQuery, StatsView,
} from './dashboard-schemas.ts'
import { listRequestOf, listSubscriptionsPage, listTransactionsPage } from './list-service.ts'
import { readDashboardStats, statsCaches, statsJson } from '../stats/service.ts'

/**
 * The developer dashboard across all of the caller's projects (registered inside developer-routes.ts,
 * which authenticates the developer). Lists are keyset pages, newest first; stats read the
 * incrementally maintained stats rows only.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  // This app's database only: the month rows and texts it holds are named by key and xmin, which another database may repeat.
  const caches = statsCaches()
  const common = { tags: ['payments'], security: [{ developer: [] }] }

  app.get('/subscriptions', {
    schema: {
      ...common, operationId: 'listDeveloperSubscriptions', summary: 'Subscriptions across all of your projects, newest first',
      querystring: DeveloperSubscriptionQuery, response: { 200: DashboardSubscriptionList, ...problems(400, 401, 404) },
    },
  }, async (req) => listSubscriptionsPage(app.db, listRequestOf(developerOf(req).id, req.query)))

  app.get('/transactions', {
    schema: {
      ...common, operationId: 'listDeveloperTransactions', summary: 'Payments across all of your projects, newest first',
      querystring: DeveloperTransactionQuery, response: { 200: DashboardTransactionList, ...problems(400, 401, 404) },
    },
  }, async (req) => listTransactionsPage(app.db, listRequestOf(developerOf(req).id, req.query)))

  app.get('/stats', {
    schema: {
      ...common, operationId: 'getDeveloperStats',
      summary: 'Totals per currency, subscriptions by status, MRR, a zero-filled daily series and a per-project breakdown',
      querystring: StatsQuery, response: { 200: StatsView, ...problems(400, 401, 404) },
    },
  }, async (req, reply) => {
    const developerId = developerOf(req).id
    if (req.query.project_id) await ownedProject(app.db, developerId, req.query.project_id)
    const stats = await readDashboardStats(app.db, { developerId, mode: modeOf(req.query), projectId: req.query.project_id, from: req.query.from, to: req.query.to }, caches)
    // The schema's serializer writes the view; the daily series arrives written (months held, see DailyTextCache).
    // A string with a JSON content type is sent as it is: the cast only tells the type provider so.
    const text = statsJson((view) => String(reply.serialize(view)), stats)
    return reply.type('application/json; charset=utf-8').send(text as unknown as Static<typeof StatsView>)
  })
}
export default routes
