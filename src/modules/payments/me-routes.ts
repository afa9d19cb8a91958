import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { subscriptionView, transactionView } from './views.ts'
import { endUserOf } from '../auth/plugin.ts'
import { endUserRateLimits, type RateLimitSettings } from '../../platform/http/rate-limit.ts'
import { ModeQuery, modeOf, problems } from '../../platform/http/schemas.ts'
import { pageOf } from '../../platform/http/pagination.ts'
import {
  CancelBody, MyPaymentsQuery, MySubscription, PortalBody, PortalView, SubscriptionView, TransactionList, UpdateSubscriptionBody,
} from './schemas.ts'
import { createCheckoutService } from './checkout-service.ts'
import { createSubscriptionService } from './subscription-service.ts'

export interface MeRouteOptions { rateLimit?: RateLimitSettings }

export const ME_RATE_LIMIT: RateLimitSettings = { userMax: 60, ipMax: 300, anonymousMax: 60, windowMs: 60_000 }

/** Mounted at /api/v1/payments/stripe: an end user's own subscription, payments and billing actions. */
const routes: FastifyPluginAsyncTypebox<MeRouteOptions> = async (app, options) => {
  const deps = { db: app.db, resolver: app.stripeResolver, log: app.log }
  const checkout = createCheckoutService(deps)
  const subscriptions = createSubscriptionService(deps)
  const limits = await endUserRateLimits(app, 'me', options.rateLimit ?? ME_RATE_LIMIT, app.authenticateEndUser)
  app.addHook('onRequest', limits.guard)
  const common = { tags: ['end-user'], security: [{ endUser: [] }] }
  const refOf = (req: Parameters<typeof endUserOf>[0], query: { test_mode: boolean }) => {
    const user = endUserOf(req)
    return { projectId: user.projectId, endUserId: user.id, mode: modeOf(query) }
  }

  app.get('/my-subscription', {
    schema: { ...common, operationId: 'getMySubscription', summary: 'The caller\'s current subscription in this mode', querystring: ModeQuery, response: { 200: MySubscription, ...problems(400, 401, 429) } },
  }, async (req) => {
    const ref = refOf(req, req.query)
    const [row, billing] = await Promise.all([subscriptions.current(ref), subscriptions.billing(ref)])
    return { data: row ? subscriptionView(row) : null, active: billing.map(subscriptionView), duplicate_active: billing.length > 1 }
  })

  app.get('/my-payments', {
    schema: { ...common, operationId: 'listMyPayments', summary: 'The caller\'s transactions, newest first', querystring: MyPaymentsQuery, response: { 200: TransactionList, ...problems(400, 401, 429) } },
  }, async (req) => {
    const { rows, hasMore } = await subscriptions.payments(refOf(req, req.query), req.query.limit, req.query.starting_after)
    return pageOf(rows, hasMore, transactionView)
  })

  app.post('/customer-portal', {
    schema: { ...common, operationId: 'createCustomerPortalSession', summary: 'A Stripe customer portal session for the caller', querystring: ModeQuery, body: PortalBody, response: { 200: PortalView, ...problems(400, 401, 404, 409, 429, 502, 503, 504) } },
  }, async (req) => checkout.portal(refOf(req, req.query), req.body.return_url))

  app.post('/cancel-subscription', {
    schema: {
      ...common, operationId: 'cancelMySubscription', summary: 'Cancel at period end (default) or now; returns Stripe\'s answer as stored',
      querystring: ModeQuery, body: Type.Optional(CancelBody), response: { 200: SubscriptionView, ...problems(400, 401, 404, 409, 429, 502, 503, 504) },
    },
    // The body is optional: a bare POST cancels at period end.
    preValidation: async (req) => { req.body ??= { at_period_end: true } },
  }, async (req) => subscriptionView(await subscriptions.cancel(refOf(req, req.query), req.body?.at_period_end ?? true)))

  app.post('/update-subscription', {
    schema: {
      ...common, operationId: 'updateMySubscription', summary: 'Change plan (same currency and interval) and/or resume a pending cancellation',
      querystring: ModeQuery, body: UpdateSubscriptionBody, response: { 200: SubscriptionView, ...problems(400, 401, 404, 409, 429, 502, 503, 504) },
    },
  }, async (req) => subscriptionView(await subscriptions.update(refOf(req, req.query), req.body)))
}
export default routes
