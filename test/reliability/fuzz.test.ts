import t from 'tap'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { HANDLED_EVENT_TYPES } from '../../src/webhooks/registry.ts'
import { buildTestApp, configureStripe, countRows, createProject, endUserToken, newDeveloper, startLocalStripe } from '../helpers/app.ts'
import { signed } from '../helpers/webhooks.ts'

/**
 * Bad input at volume: every answer is 2xx or 4xx, a 4xx is problem+json without a stack, and a
 * rejected request stores nothing. Bounded runs (FUZZ_RUNS, default 300 per property).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const skip = process.env.RELIABILITY ? false : 'the reliability suite runs with npm run test:reliability'

function checkAnswer (res: LightMyRequestResponse, what: string): string | null {
  if (res.statusCode >= 500) return `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`
  if (res.statusCode >= 400) {
    if (!/application\/problem\+json/.test(String(res.headers['content-type']))) return `${what}: ${res.statusCode} without problem+json`
    if (/\n\s+at |"stack"/.test(res.body)) return `${what}: a stack in the answer`
  }
  return null
}

t.test('webhook bodies, headers and signatures', { skip }, async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const account = await local.createAccount()
  const secret = `whsec_fuzz_${project.id.replaceAll('-', '')}`
  await configureStripe(app, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: secret })

  const eventId = fc.oneof(fc.stringMatching(/^evt_[A-Za-z0-9]{1,30}$/), fc.string({ maxLength: 40 }))
  const object = fc.oneof(fc.object({ maxDepth: 2 }), fc.record({ id: fc.string({ maxLength: 30 }), object: fc.string({ maxLength: 20 }), amount: fc.integer(), currency: fc.string({ maxLength: 5 }) }))
  const eventShaped = fc.record({
    id: eventId,
    object: fc.constant('event'),
    type: fc.oneof(fc.constantFrom(...HANDLED_EVENT_TYPES), fc.string({ maxLength: 40 })),
    created: fc.oneof(fc.integer({ min: 1, max: 2_000_000_000 }), fc.double(), fc.string({ maxLength: 10 })),
    livemode: fc.oneof(fc.constant(false), fc.boolean(), fc.constant(null)),
    data: fc.oneof(fc.record({ object }), fc.jsonValue({ maxDepth: 2 })),
  }, { requiredKeys: [] })
  const body = fc.oneof(
    eventShaped.map((e) => JSON.stringify(e)),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
  )
  const signature = fc.oneof(
    fc.constant('valid'), fc.constant('valid'), fc.constant('stale'), fc.constant('wrong-secret'), fc.constant('missing'),
    fc.string({ maxLength: 120 }), fc.stringMatching(/^t=\d{1,12}(,v1=[0-9a-f]{0,70}){0,4}$/),
  )
  const contentType = fc.oneof(fc.constant('application/json'), fc.constant('application/json; charset=utf-8'), fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', ''), fc.string({ maxLength: 40 }))
  const target = fc.oneof(
    fc.constant({ id: project.id, mode: 'test' }), fc.constant({ id: project.id, mode: 'test' }), fc.constant({ id: project.id, mode: 'live' }),
    fc.record({ id: fc.uuid(), mode: fc.constantFrom('test', 'live') }), fc.record({ id: fc.string({ maxLength: 40 }), mode: fc.string({ maxLength: 8 }) }),
  )

  const accepted = new Set<string>()
  const problems: string[] = []
  await fc.assert(fc.asyncProperty(body, signature, contentType, target, async (payload, sig, type, to) => {
    const now = Math.floor(Date.now() / 1000)
    const header = sig === 'valid' ? signed(payload, secret) : sig === 'stale' ? signed(payload, secret, now - 400) : sig === 'wrong-secret' ? signed(payload, 'whsec_other') : sig === 'missing' ? undefined : sig
    const res = await app.inject({
      method: 'POST', url: `/api/v1/payments/stripe/webhooks/${encodeURIComponent(to.id)}/${encodeURIComponent(to.mode)}`, payload,
      headers: { ...(type ? { 'content-type': type } : {}), ...(header !== undefined ? { 'stripe-signature': header } : {}) },
    })
    const problem = checkAnswer(res, `webhook ${sig} ${type}`)
    if (problem && problems.length < 5) problems.push(`${problem} :: ${payload.slice(0, 200)}`)
    if (res.statusCode === 200) {
      const id = (JSON.parse(payload) as { id: string }).id
      accepted.add(id)
    }
  }), { numRuns: RUNS })
  t.same(problems, [], 'no 5xx, every 4xx problem+json without a stack')
  t.equal(await countRows(app, 'webhook_events', { projectId: project.id }), accepted.size, 'only accepted events are recorded')
  t.equal(await countRows(app, 'transactions', { projectId: project.id }) >= 0, true)
})

t.test('every JSON endpoint: bodies, parameters and queries', { skip }, async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const account = await local.createAccount()
  await configureStripe(app, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key })
  const endUser = { authorization: `Bearer ${endUserToken(project.id, 'fuzz-user', project.end_user_secret)}` }

  const doc = app.swagger() as { paths: Record<string, Record<string, { parameters?: Array<{ name: string, in: string }>, requestBody?: unknown, tags?: string[] }>> }
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods)
    .filter(([method]) => ['get', 'post', 'put', 'delete', 'patch'].includes(method))
    .filter(([, op]) => !(op.tags ?? []).includes('webhooks'))
    .map(([method, op]) => ({ path, method: method.toUpperCase() as 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH', op })))
  t.ok(operations.length > 10, `${operations.length} operations`)

  const paramValue = fc.oneof(fc.constant(project.id), fc.uuid(), fc.string({ maxLength: 60 }), fc.constant('evt_nope'))
  const queryValue = fc.oneof(fc.constantFrom('true', 'false', '1', '0', '-1', '101', ''), fc.string({ maxLength: 40 }))
  const bodyValue = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record({
      name: fc.string({ maxLength: 300 }), secret_key: fc.oneof(fc.string({ maxLength: 50 }), fc.constant('sk_test_x')), publishable_key: fc.string({ maxLength: 50 }),
      webhook_secret: fc.string({ maxLength: 50 }), price_id: fc.string({ maxLength: 50 }), success_url: fc.oneof(fc.webUrl(), fc.string()), cancel_url: fc.oneof(fc.webUrl(), fc.string()),
      quantity: fc.oneof(fc.integer(), fc.double()), return_url: fc.oneof(fc.webUrl(), fc.string()), at_period_end: fc.anything({ maxDepth: 1 }),
    }, { requiredKeys: [] }),
  )
  const problems: string[] = []
  await fc.assert(fc.asyncProperty(fc.nat(operations.length - 1), fc.array(paramValue, { minLength: 3, maxLength: 3 }), fc.dictionary(fc.constantFrom('test_mode', 'limit', 'starting_after', 'status', 'type', 'project_id', 'from', 'to', 'x'), queryValue, { maxKeys: 4 }), bodyValue, fc.boolean(),
    async (which, params, query, payload, asEndUser) => {
      const operation = operations[which]
      if (!operation) return
      let i = 0
      const url = operation.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++] ?? ''))
      const before = [await countRows(app, 'projects', { developerId: dev.id }), await countRows(app, 'stripe_configs', { developerId: dev.id })]
      const res = await app.inject({
        method: operation.method, url, query,
        headers: asEndUser ? endUser : dev.headers,
        ...(operation.method === 'GET' || operation.method === 'DELETE' ? {} : { payload: JSON.stringify(payload), headers: { ...(asEndUser ? endUser : dev.headers), 'content-type': 'application/json' } }),
      })
      const problem = checkAnswer(res, `${operation.method} ${operation.path}`)
      if (problem && problems.length < 5) problems.push(`${problem} :: ${JSON.stringify(payload).slice(0, 200)} ${JSON.stringify(query)}`)
      if (res.statusCode >= 400) {
        const after = [await countRows(app, 'projects', { developerId: dev.id }), await countRows(app, 'stripe_configs', { developerId: dev.id })]
        if (JSON.stringify(after) !== JSON.stringify(before) && problems.length < 5) problems.push(`${operation.method} ${operation.path} ${res.statusCode} stored something`)
      }
    }), { numRuns: RUNS })
  t.same(problems, [], 'no 5xx, every 4xx problem+json without a stack, nothing stored by a rejected request')
})
