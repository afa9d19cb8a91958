import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { endUserOf } from '../auth/plugin.ts'
import { endUserRateLimits, type RateLimitSettings } from '../../platform/http/rate-limit.ts'
import { ModeQuery, modeOf, problems } from '../../platform/http/schemas.ts'
import { CheckoutBody, CheckoutSessionView, IdempotencyHeaders } from './schemas.ts'
import { createCheckoutService } from './checkout-service.ts'

export interface CheckoutRouteOptions { rateLimit?: RateLimitSettings }

/** Checkout starts money moving: a tighter per-user limit than the reads. */
export const CHECKOUT_RATE_LIMIT: RateLimitSettings = { userMax: 10, ipMax: 100, anonymousMax: 20, windowMs: 60_000 }

/** Mounted at /api/v1/payments/stripe: an end user of a project starts a Stripe Checkout. */
const routes: FastifyPluginAsyncTypebox<CheckoutRouteOptions> = async (app, options) => {
  const service = createCheckoutService({ db: app.db, resolver: app.stripeResolver, log: app.log })
  const limits = await endUserRateLimits(app, 'checkout', options.rateLimit ?? CHECKOUT_RATE_LIMIT, app.authenticateEndUser)
  app.addHook('onRequest', limits.guard)

  app.post('/checkout-session', {
    schema: {
      tags: ['end-user'], operationId: 'createCheckoutSession', security: [{ endUser: [] }],
      summary: 'Start a Stripe Checkout for a price; amounts come from Stripe\'s price, never from the client',
      querystring: ModeQuery, headers: IdempotencyHeaders, body: CheckoutBody,
      response: { 201: CheckoutSessionView, ...problems(400, 401, 404, 409, 429, 502, 503, 504) },
    },
  }, async (req, reply) => {
    const user = endUserOf(req)
    const session = await service.createSession(
      { projectId: user.projectId, endUserId: user.id, mode: modeOf(req.query) }, req.body, req.headers['idempotency-key'])
    return reply.code(201).send(session)
  })
}
export default routes
