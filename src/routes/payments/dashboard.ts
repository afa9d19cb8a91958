import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../../plugins/auth.ts'
import { notFound } from '../../lib/errors.ts'
import { findOwnedProject } from '../../repositories/projects.ts'
import { modeOf, problems } from '../../schemas/common.ts'
import {
  DashboardSubscriptionList, DashboardTransactionList, DeveloperSubscriptionQuery, DeveloperTransactionQuery, StatsQuery, StatsView,
} from '../../schemas/dashboard.ts'
import { listRequestOf, listSubscriptionsPage, listTransactionsPage } from '../../services/dashboard-lists.ts'
import { MonthCache } from '../../repositories/stats-read.ts'
import { readDashboardStats } from '../../services/dashboard-stats.ts'

/**
 * The developer dashboard across all of the caller's projects (registered inside routes/payments,
 * which authenticates the developer). Lists are keyset pages, newest first; stats read the
 * incrementally maintained stats rows only.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  // This app's database only: the month rows it holds are named by key and xmin, which another database may repeat.
  const months = new MonthCache()
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
  }, async (req) => {
    const developerId = developerOf(req).id
    if (req.query.project_id && !(await findOwnedProject(app.db, developerId, req.query.project_id))) throw notFound('project')
    return readDashboardStats(app.db, { developerId, mode: modeOf(req.query), projectId: req.query.project_id, from: req.query.from, to: req.query.to }, months)
  })
}
export default routes
