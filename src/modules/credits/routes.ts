import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { apiKeyOf, developerOf } from '../auth/plugin.ts'
import { ownedProject } from '../projects/service.ts'
import { badRequest, notFound } from '../../platform/http/errors.ts'
import { problems } from '../../platform/http/schemas.ts'
import type { Wallet } from './repository.ts'
import {
  Adjustment, AdjustmentBody, BackendQuery, Balance, CheckBody, CheckResult, CommitBody, ConsumeBody, ConsumeHeaders, Consumption,
  EndUserParams, LedgerPage, LedgerQuery, ReservationParams, Reservation, ReserveBody, SettledReservation,
} from './schemas.ts'
import { createCreditsService, idempotencyKeyOf, type Answer } from './service.ts'

/**
 * Mounted at /api/v1/credits: the developer's backend spends and reads its end users' credits, with
 * a project API key (its project and mode only) or a developer token (project_id and test_mode).
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const credits = createCreditsService({ db: app.db })
  app.addHook('onRequest', app.authenticateBackend)
  const security: Array<Record<string, string[]>> = [{ apiKey: [] }, { developer: [] }]
  const common = { tags: ['credits'], security }

  /** The project and mode a call reaches: another project's or mode's is 404, as if it did not exist. */
  async function walletScope (req: FastifyRequest, query: BackendQuery): Promise<Wallet> {
    const key = apiKeyOf(req)
    if (key) {
      if (query.project_id !== undefined && query.project_id.toLowerCase() !== key.projectId) throw notFound('project')
      if (query.test_mode !== undefined && (query.test_mode ? 'test' : 'live') !== key.mode) throw notFound('project')
      return { projectId: key.projectId, mode: key.mode }
    }
    const developer = developerOf(req)
    if (!query.project_id) throw badRequest('project_id_required', 'With a developer token, name the project: ?project_id=…&test_mode=')
    const projectId = query.project_id.toLowerCase()
    await ownedProject(app.db, developer.id, projectId)
    return { projectId, mode: query.test_mode === false ? 'live' : 'test' }
  }

  const send = (reply: FastifyReply, answer: Answer) => {
    if (answer.replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(answer.status).send(answer.body)
  }

  app.post('/consume', {
    schema: {
      ...common, operationId: 'consumeCredits', summary: 'Spend an end user\'s credits, all or nothing', querystring: BackendQuery, headers: ConsumeHeaders, body: ConsumeBody,
      response: { 200: Consumption, ...problems(400, 401, 402, 404, 409) },
    },
  }, async (req, reply) => {
    const key = idempotencyKeyOf(req.headers['idempotency-key'])
    const w = await walletScope(req, req.query)
    const b = req.body
    return send(reply, await credits.consume(w, key, { end_user_id: b.end_user_id, amount: b.amount ?? 1, description: b.description ?? null, metadata: b.metadata ?? null }))
  })

  app.post('/check', {
    schema: { ...common, operationId: 'checkCredits', summary: 'Whether an end user could spend this much now (spends nothing)', querystring: BackendQuery, body: CheckBody, response: { 200: CheckResult, ...problems(400, 401, 404) } },
  }, async (req) => credits.check(await walletScope(req, req.query), req.body.end_user_id, req.body.amount ?? 1))

  app.post('/reservations', {
    schema: {
      ...common, operationId: 'reserveCredits', summary: 'Set credits aside for work that may fail; commit or release it, or it releases itself after ttl_seconds',
      querystring: BackendQuery, headers: ConsumeHeaders, body: ReserveBody, response: { 201: Reservation, ...problems(400, 401, 402, 404, 409) },
    },
  }, async (req, reply) => {
    const key = idempotencyKeyOf(req.headers['idempotency-key'])
    const w = await walletScope(req, req.query)
    return send(reply, await credits.reserve(w, key, { end_user_id: req.body.end_user_id, amount: req.body.amount, ttl_seconds: req.body.ttl_seconds ?? 300 }))
  })

  app.post('/reservations/:reservation_id/commit', {
    // The body is optional: no body commits the whole reservation.
    preValidation: async (req) => { req.body ??= {} },
    schema: {
      ...common, operationId: 'commitReservation', summary: 'Spend a reservation (at most its amount; the rest is released)', querystring: BackendQuery, params: ReservationParams, body: CommitBody,
      response: { 200: SettledReservation, ...problems(400, 401, 404, 409, 422) },
    },
  }, async (req, reply) => send(reply, await credits.settle(await walletScope(req, req.query), req.params.reservation_id, true, req.body?.amount ?? null)))

  app.post('/reservations/:reservation_id/release', {
    schema: {
      ...common, operationId: 'releaseReservation', summary: 'Give a reservation back unspent', querystring: BackendQuery, params: ReservationParams,
      response: { 200: SettledReservation, ...problems(400, 401, 404, 409) },
    },
  }, async (req, reply) => send(reply, await credits.settle(await walletScope(req, req.query), req.params.reservation_id, false, null)))

  app.get('/balances/:end_user_id', {
    schema: { ...common, operationId: 'getCreditBalance', summary: 'An end user\'s balance (an end user with no credits yet has zeros)', querystring: BackendQuery, params: EndUserParams, response: { 200: Balance, ...problems(400, 401, 404) } },
  }, async (req) => credits.balance(await walletScope(req, req.query), req.params.end_user_id))

  app.get('/ledger', {
    schema: { ...common, operationId: 'listCreditLedger', summary: 'An end user\'s ledger, newest first', querystring: LedgerQuery, response: { 200: LedgerPage, ...problems(400, 401, 404) } },
  }, async (req) => {
    const { end_user_id: endUserId, project_id: projectId, test_mode: testMode, ...page } = req.query
    return credits.ledger(await walletScope(req, { project_id: projectId, test_mode: testMode }), endUserId, page)
  })

  app.post('/adjustments', {
    schema: {
      ...common, operationId: 'adjustCredits', summary: 'Grant (amount > 0) or take (amount < 0) credits by hand, once per Idempotency-Key',
      querystring: BackendQuery, headers: ConsumeHeaders, body: AdjustmentBody, response: { 200: Adjustment, ...problems(400, 401, 402, 404, 409) },
    },
  }, async (req, reply) => {
    const key = idempotencyKeyOf(req.headers['idempotency-key'])
    return send(reply, await credits.adjust(await walletScope(req, req.query), key, req.body))
  })
}
export default routes
