import t from 'tap'
import { assertProblem, buildTestApp, configureStripe, countRows, createProject, newDeveloper, startLocalStripe, type Developer } from './helpers/app.ts'
import type { StripeLocal } from '../stripe-local/index.ts'

const configUrl = (projectId: string, testMode = true) => `/api/v1/payments/stripe/projects/${projectId}/config?test_mode=${testMode}`

async function setup (t: Tap.Test) {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const account = await keysOf(local)
  return { local, app, dev, project, account }
}

/** An emulated Stripe account's keys as the configuration API takes them. */
async function keysOf (local: StripeLocal) {
  const a = await local.createAccount()
  const pick = (m: typeof a.test) => ({ secret_key: m.secret_key, publishable_key: m.publishable_key, restricted_key: m.restricted_key })
  const strip = ({ secret_key, publishable_key }: ReturnType<typeof pick>) => ({ secret_key, publishable_key })
  return { account_id: a.account_id, test: strip(pick(a.test)), live: strip(pick(a.live)), restricted: { test: a.test.restricted_key } }
}
declare global { namespace Tap { type Test = import('tap').Test } }

t.test('PUT stores keys; GET shows a mask and never a secret', async (t) => {
  const { app, dev, project, account } = await setup(t)
  const put = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: { ...account.test, webhook_secret: 'whsec_abcdefghijklmnopqrstuvwxyz012345' } })
  t.equal(put.statusCode, 200)
  const view = put.json()
  t.match(view, {
    project_id: project.id, mode: 'test', configured: true, active: true, publishable_key: account.test.publishable_key,
    secret_key_hint: `sk_test_…${account.test.secret_key.slice(-4)}`, webhook_secret_set: true,
    webhook_url: `https://payments.example.test/api/v1/payments/stripe/webhooks/${project.id}/test`, version: 1,
  })
  const got = await app.inject({ method: 'GET', url: configUrl(project.id), headers: dev.headers })
  t.same(got.json(), view)
  for (const body of [put.body, got.body]) {
    t.notOk(body.includes(account.test.secret_key), 'no secret key')
    t.notOk(body.includes('whsec_abcdefghijklmnopqrstuvwxyz012345'), 'no webhook secret')
  }
  const live = await app.inject({ method: 'GET', url: configUrl(project.id, false), headers: dev.headers })
  t.match(live.json(), { mode: 'live', configured: false, active: false, secret_key_hint: null, version: 0 })
})

t.test('a second PUT bumps the version; webhook_secret is kept unless given, and null removes it', async (t) => {
  const { app, dev, project, account } = await setup(t)
  await configureStripe(app, dev, project.id, { ...account.test, webhook_secret: 'whsec_abcdefghijklmnopqrstuvwxyz012345' })
  const again = await configureStripe(app, dev, project.id, account.test)
  t.match(again.json(), { version: 2, webhook_secret_set: true })
  const cleared = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: { ...account.test, webhook_secret: null } })
  t.match(cleared.json(), { version: 3, webhook_secret_set: false })
})

t.test('keys must match the mode: live keys in test mode and test keys in live mode are refused and change nothing', async (t) => {
  const { app, dev, project, account } = await setup(t)
  const cases: Array<[string, boolean, Record<string, unknown>, string]> = [
    ['live secret key in test mode', true, { secret_key: account.live.secret_key, publishable_key: account.test.publishable_key }, 'key_mode_mismatch'],
    ['live publishable key in test mode', true, { secret_key: account.test.secret_key, publishable_key: account.live.publishable_key }, 'key_mode_mismatch'],
    ['test keys in live mode', false, account.test, 'key_mode_mismatch'],
    ['publishable key as secret key', true, { secret_key: account.test.publishable_key, publishable_key: account.test.publishable_key }, 'validation_failed'],
    ['not a Stripe key', true, { secret_key: 'hello world 1234', publishable_key: account.test.publishable_key }, 'validation_failed'],
    ['over-long key', true, { secret_key: `sk_test_${'a'.repeat(300)}`, publishable_key: account.test.publishable_key }, 'validation_failed'],
    ['non-string key', true, { secret_key: 12345678901234, publishable_key: account.test.publishable_key }, 'validation_failed'],
    ['missing publishable key', true, { secret_key: account.test.secret_key }, 'validation_failed'],
    ['malformed webhook secret', true, { ...account.test, webhook_secret: 'not-a-secret' }, 'validation_failed'],
    ['unknown field', true, { ...account.test, account_id: 'acct_x' }, 'validation_failed'],
  ]
  for (const [label, testMode, payload, code] of cases) {
    t.test(label, async (t) => {
      assertProblem(t, await app.inject({ method: 'PUT', url: configUrl(project.id, testMode), headers: dev.headers, payload }), 400, code)
    })
  }
  t.test('malformed JSON', async (t) => {
    assertProblem(t, await app.inject({ method: 'PUT', url: configUrl(project.id), headers: { ...dev.headers, 'content-type': 'application/json' }, payload: '{"secret_key":' }), 400, 'malformed_json')
  })
  t.test('test_mode that is not a boolean', async (t) => {
    assertProblem(t, await app.inject({ method: 'PUT', url: `/api/v1/payments/stripe/projects/${project.id}/config?test_mode=maybe`, headers: dev.headers, payload: account.test }), 400, 'validation_failed')
  })
  t.equal(await countRows(app, 'stripe_configs', { projectId: project.id }), 0, 'nothing stored')
})

t.test('restricted rk_ keys are accepted', async (t) => {
  const { app, dev, project, account } = await setup(t)
  const res = await configureStripe(app, dev, project.id, { secret_key: account.restricted.test, publishable_key: account.test.publishable_key })
  t.match(res.json().secret_key_hint, /^rk_test_…/)
  const validated = await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/validate-credentials?test_mode=true`, headers: dev.headers })
  t.equal(validated.statusCode, 200)
  t.equal(validated.json().stripe_account_id, account.account_id)
})

t.test('DELETE deactivates the mode and bumps the version; an unconfigured mode is 404', async (t) => {
  const { app, dev, project, account } = await setup(t)
  await configureStripe(app, dev, project.id, account.test)
  const del = await app.inject({ method: 'DELETE', url: configUrl(project.id), headers: dev.headers })
  t.equal(del.statusCode, 200)
  t.match(del.json(), { configured: true, active: false, version: 2 })
  assertProblem(t, await app.inject({ method: 'DELETE', url: configUrl(project.id, false), headers: dev.headers }), 404, 'not_found')
  const reput = await configureStripe(app, dev, project.id, account.test)
  t.match(reput.json(), { active: true, version: 3 }, 'a new PUT reactivates')
})

t.test('webhook-urls gives absolute URLs for both modes and the events to enable', async (t) => {
  const { app, dev, project } = await setup(t)
  const res = await app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${project.id}/webhook-urls`, headers: dev.headers })
  t.equal(res.statusCode, 200)
  t.match(res.json(), {
    project_id: project.id,
    test: { url: `https://payments.example.test/api/v1/payments/stripe/webhooks/${project.id}/test`, webhook_secret_set: false },
    live: { url: `https://payments.example.test/api/v1/payments/stripe/webhooks/${project.id}/live` },
  })
  t.ok(res.json().events.includes('invoice.paid'))
  t.ok(res.json().events.includes('charge.refunded'))
})

t.test('validate-credentials calls Stripe with the stored key and remembers the account', async (t) => {
  const { app, dev, project, account } = await setup(t)
  const validateUrl = `/api/v1/payments/stripe/projects/${project.id}/validate-credentials?test_mode=true`
  assertProblem(t, await app.inject({ method: 'POST', url: validateUrl, headers: dev.headers }), 409, 'stripe_not_configured')
  await configureStripe(app, dev, project.id, account.test)
  const res = await app.inject({ method: 'POST', url: validateUrl, headers: dev.headers })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { valid: true, stripe_account_id: account.account_id, livemode: false, reason: null, validated_at: String })
  const view = await app.inject({ method: 'GET', url: configUrl(project.id), headers: dev.headers })
  t.match(view.json(), { stripe_account_id: account.account_id, livemode: false, validated_at: String })
})

t.test('validate-credentials reports a key Stripe rejects as invalid, with Stripe\'s reason', async (t) => {
  const { app, dev, project } = await setup(t)
  await configureStripe(app, dev, project.id, { secret_key: 'sk_test_NotAKeyTheServerKnows1234', publishable_key: 'pk_test_NotAKeyTheServerKnows1234' })
  const res = await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/validate-credentials?test_mode=true`, headers: dev.headers })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { valid: false, stripe_account_id: null, reason: String })
  t.notOk(res.body.includes('sk_test_NotAKeyTheServerKnows1234'))
})

t.test('a key of another Stripe account is refused with 409 account_changed unless confirmed', async (t) => {
  const { local, app, dev, project, account } = await setup(t)
  const other = await keysOf(local)
  await configureStripe(app, dev, project.id, account.test)
  await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/validate-credentials`, headers: dev.headers })
  const refused = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: other.test })
  assertProblem(t, refused, 409, 'account_changed')
  t.match(refused.json(), { previous_account_id: account.account_id, new_account_id: other.account_id })
  const view = await app.inject({ method: 'GET', url: configUrl(project.id), headers: dev.headers })
  t.match(view.json(), { version: 2, stripe_account_id: account.account_id }, 'unchanged (version 2 is the validation)')

  const sameAccount = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: { secret_key: account.restricted.test, publishable_key: account.test.publishable_key } })
  t.equal(sameAccount.statusCode, 200, 'another key of the same account is fine')

  const confirmed = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: { ...other.test, confirm_account_change: true } })
  t.equal(confirmed.statusCode, 200)
  t.match(confirmed.json(), { stripe_account_id: other.account_id })
})

t.test('Stripe unreachable during an account check is a 502 problem, and nothing changes', async (t) => {
  const { local, app, dev, project, account } = await setup(t)
  await configureStripe(app, dev, project.id, account.test)
  await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/validate-credentials`, headers: dev.headers })
  await local.close()
  const res = await app.inject({ method: 'PUT', url: configUrl(project.id), headers: dev.headers, payload: account.test })
  assertProblem(t, res, 502, 'stripe_unreachable')
  const view = await app.inject({ method: 'GET', url: configUrl(project.id), headers: dev.headers })
  t.equal(view.json().version, 2)
})

t.test('another developer gets 404 from every configuration route', async (t) => {
  const { app, project, account } = await setup(t)
  const other: Developer = newDeveloper()
  const base = `/api/v1/payments/stripe/projects/${project.id}`
  const routes: Array<[string, string, object | undefined]> = [
    ['GET', `${base}/config`, undefined], ['PUT', `${base}/config`, account.test], ['DELETE', `${base}/config`, undefined],
    ['GET', `${base}/webhook-urls`, undefined], ['POST', `${base}/validate-credentials`, undefined],
  ]
  for (const [method, url, payload] of routes) {
    assertProblem(t, await app.inject({ method: method as 'GET', url, headers: other.headers, ...(payload ? { payload } : {}) }), 404, 'not_found')
  }
  t.equal(await countRows(app, 'stripe_configs', { projectId: project.id }), 0)
})

t.test('GET /payments/projects lists each project with its test and live configuration status', async (t) => {
  const { app, dev, project, account } = await setup(t)
  const second = await createProject(app, dev, 'Second')
  await configureStripe(app, dev, project.id, account.test)
  await configureStripe(app, dev, project.id, account.live, 'live')
  const res = await app.inject({ method: 'GET', url: '/api/v1/payments/projects', headers: dev.headers })
  t.equal(res.statusCode, 200)
  const byId = new Map(res.json().data.map((p: { id: string }) => [p.id, p]))
  t.match(byId.get(project.id), { name: 'Shop', test: { configured: true, active: true, mode: 'test' }, live: { configured: true, mode: 'live', secret_key_hint: /^sk_live_…/ } })
  t.match(byId.get(second.id), { name: 'Second', test: { configured: false }, live: { configured: false } })
  t.notOk(res.body.includes(account.live.secret_key))
  const stranger = await app.inject({ method: 'GET', url: '/api/v1/payments/projects', headers: newDeveloper().headers })
  t.same(stranger.json().data, [])
})

