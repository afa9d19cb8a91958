import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { endUserOf } from '../auth/plugin.ts'
import { endUserRateLimits, type RateLimitSettings } from '../../platform/http/rate-limit.ts'
import { ModeQuery, modeOf, problems } from '../../platform/http/schemas.ts'
import { Balance, LedgerPage, MyLedgerQuery } from './schemas.ts'
import { createCreditsService } from './service.ts'

export interface MyCreditsOptions { rateLimit: RateLimitSettings }

/** Mounted at /api/v1/payments/stripe: the end user's own credits. */
const routes: FastifyPluginAsyncTypebox<MyCreditsOptions> = async (app, options) => {
  const credits = createCreditsService({ db: app.db })
  const limits = await endUserRateLimits(app, 'my-credits', options.rateLimit, app.authenticateEndUser)
  app.addHook('onRequest', limits.guard)
  const common = { tags: ['end-user'], security: [{ endUser: [] }] }

  app.get('/my-credits', {
    schema: { ...common, operationId: 'getMyCredits', summary: 'The caller\'s credits in this mode', querystring: ModeQuery, response: { 200: Balance, ...problems(400, 401, 429) } },
  }, async (req) => {
    const user = endUserOf(req)
    return credits.balance({ projectId: user.projectId, mode: modeOf(req.query) }, user.id)
  })

  app.get('/my-credits/ledger', {
    schema: { ...common, operationId: 'listMyCreditLedger', summary: 'The caller\'s credit ledger, newest first', querystring: MyLedgerQuery, response: { 200: LedgerPage, ...problems(400, 401, 429) } },
  }, async (req) => {
    const user = endUserOf(req)
    const { test_mode: testMode, ...page } = req.query
    return credits.ledger({ projectId: user.projectId, mode: modeOf({ test_mode: testMode }) }, user.id, page)
  })
}
export default routes
