import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { ProjectParams, problems } from '../../platform/http/schemas.ts'
import {
  DashboardSubscriptionList, DashboardTransactionList, ProjectSubscriptionQuery, ProjectTransactionQuery, RefundAccepted, RefundBody, RefundHeaders,
} from './dashboard-schemas.ts'
import { listRequestOf, listSubscriptionsPage, listTransactionsPage } from './list-service.ts'
import { createRefundService } from './refund-service.ts'

/** Mounted at /payments/stripe/projects: one project's subscriptions and payments, and developer refunds (own projects only; anyone else's is 404). */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const refunds = createRefundService({ db: app.db, resolver: app.stripeResolver })
  app.addHook('onRequest', app.authenticateDeveloper)
  const common = { tags: ['payments'], security: [{ developer: [] }] }

  app.get('/:project_id/subscriptions', {
    schema: {
      ...common, operationId: 'listProjectSubscriptions', summary: 'This project\'s subscriptions, newest first',
      params: ProjectParams, querystring: ProjectSubscriptionQuery, response: { 200: DashboardSubscriptionList, ...problems(400, 401, 404) },
    },
  }, async (req) => listSubscriptionsPage(app.db, listRequestOf(developerOf(req).id, req.query, req.params.project_id)))

  app.get('/:project_id/payments', {
    schema: {
      ...common, operationId: 'listProjectPayments', summary: 'This project\'s payments, newest first',
      params: ProjectParams, querystring: ProjectTransactionQuery, response: { 200: DashboardTransactionList, ...problems(400, 401, 404) },
    },
  }, async (req) => listTransactionsPage(app.db, listRequestOf(developerOf(req).id, req.query, req.params.project_id)))

  app.post('/:project_id/refunds', {
    schema: {
      ...common, operationId: 'createRefund',
      summary: 'Refund a payment in full (no amount) or in part; the transaction and stats change when charge.refunded arrives',
      params: ProjectParams, headers: RefundHeaders, body: RefundBody,
      response: { 202: RefundAccepted, ...problems(400, 401, 402, 404, 409, 502, 503, 504) },
    },
  }, async (req, reply) => {
    const result = await refunds.create({
      developerId: developerOf(req).id,
      projectId: req.params.project_id,
      transactionId: req.body.transaction_id,
      amount: req.body.amount,
      reason: req.body.reason,
      key: req.headers['idempotency-key'],
    })
    return reply.code(202).send(result)
  })
}
export default routes
