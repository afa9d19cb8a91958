import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { assertProblem, configureStripe, newDeveloper } from '../helpers/app.ts'
import { fakeEvent, postEvent, projectSnapshot, signed, webhookHarness, webhookPath } from '../helpers/webhooks.ts'
import { oneTimePrice, dashboard } from '../stripe-local/helpers.ts'
import { HANDLED_EVENT_TYPES } from '../../src/webhooks/registry.ts'
import { createStripeClient, STRIPE_API_VERSION } from '../../src/platform/stripe/client.ts'

t.test('the developer lists recorded events with their status and pages through them', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) {
    const event = fakeEvent('customer.created', { id: `cus_${i}`, object: 'customer' })
    ids.push(event.id)
    const body = JSON.stringify(event)
    await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  }
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const res: LightMyRequestResponse = await h.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${h.project.id}/events?limit=2${cursor ? `&starting_after=${cursor}` : ''}`, headers: h.dev.headers })
    t.equal(res.statusCode, 200)
    const page: { data: Array<{ id: string, status: string, attempts: number, error: null }>, next_cursor: string | null } = res.json<{ data: Array<{ id: string, status: string, attempts: number, error: null }>, next_cursor: string | null }>()
    for (const e of page.data) t.match(e, { status: 'ignored', attempts: 1, error: null, received_at: String, processed_at: String })
    seen.push(...page.data.map((e) => e.id))
    cursor = page.next_cursor
  } while (cursor)
  t.same(seen.sort(), [...ids].sort())
  const other = newDeveloper()
  assertProblem(t, await h.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${h.project.id}/events`, headers: other.headers }), 404, 'not_found')
})

t.test('replay re-runs a recorded event idempotently', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const event = fakeEvent('payment_intent.succeeded', { id: 'pi_replay', object: 'payment_intent', amount: 800, amount_received: 800, currency: 'eur', metadata: {}, latest_charge: 'ch_replay', customer: null, description: 'Replay me' })
  const body = JSON.stringify(event)
  await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  const before = await projectSnapshot(h.app, h.project.id)
  const url = `/api/v1/payments/stripe/projects/${h.project.id}/events/${event.id}/replay`
  const res = await h.app.inject({ method: 'POST', url, headers: h.dev.headers })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { outcome: 'processed', event: { id: event.id, status: 'processed', attempts: 2 } })
  t.same(await projectSnapshot(h.app, h.project.id), before, 'nothing applied twice')
  assertProblem(t, await h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${h.project.id}/events/evt_unknown/replay`, headers: h.dev.headers }), 404, 'not_found')
  assertProblem(t, await h.app.inject({ method: 'POST', url, headers: newDeveloper().headers }), 404, 'not_found')
})

t.test('the managed webhook endpoint is created once, reused, receives events, and is re-created after a key change to another account', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const url = `/api/v1/payments/stripe/projects/${h.project.id}/webhook-endpoint?test_mode=true`
  // An endpoint tagged with this project but pointing at an old URL is removed.
  const stale = await h.stripe.webhookEndpoints.create({ url: 'https://old.example/hook', enabled_events: ['*'], metadata: { project_id: h.project.id, mode: 'test' } })
  const created = await h.app.inject({ method: 'POST', url, headers: h.dev.headers })
  t.equal(created.statusCode, 200, created.body)
  const endpoint = created.json<{ webhook_endpoint_id: string, url: string, enabled_events: string[], api_version: string, created: boolean, removed_endpoint_ids: string[] }>()
  t.match(endpoint, { url: `${h.baseUrl}${webhookPath(h.project.id)}`, created: true, api_version: STRIPE_API_VERSION })
  t.same([...endpoint.enabled_events].sort(), [...HANDLED_EVENT_TYPES].sort())
  t.same(endpoint.removed_endpoint_ids, [stale.id])
  const atStripe = await h.stripe.webhookEndpoints.retrieve(endpoint.webhook_endpoint_id)
  t.equal(atStripe.metadata?.project_id, h.project.id)

  const again = await h.app.inject({ method: 'POST', url, headers: h.dev.headers })
  t.match(again.json(), { webhook_endpoint_id: endpoint.webhook_endpoint_id, created: false, removed_endpoint_ids: [] })

  // Deliveries signed with the managed secret verify (beside the manually entered one).
  const price = await oneTimePrice(h.stripe, 555)
  const session = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' })
  await dashboard(h.local, `/checkout/sessions/${session.id}/complete`)
  await h.local.idle()
  t.match((await projectSnapshot(h.app, h.project.id)).transactions, [{ status: 'succeeded', amount: 555 }])
  const manual = JSON.stringify(fakeEvent('customer.created', { id: 'cus_manual', object: 'customer' }))
  t.equal((await postEvent(h.app, h.project.id, manual, signed(manual, h.secret))).statusCode, 200, 'the manually entered secret keeps working')

  // A key of another Stripe account: the endpoint is not reachable with it, so it is re-created there.
  const account2 = await h.local.createAccount()
  const put = await h.app.inject({
    method: 'PUT', url: `/api/v1/payments/stripe/projects/${h.project.id}/config?test_mode=true`, headers: h.dev.headers,
    payload: { secret_key: account2.test.secret_key, publishable_key: account2.test.publishable_key },
  })
  t.equal(put.statusCode, 200)
  t.not(put.json().webhook_endpoint_id, endpoint.webhook_endpoint_id, 'the PUT re-created the endpoint for the new account')
  const onNewAccount = await createStripeClient(account2.test.secret_key, { apiBase: h.local.url }).webhookEndpoints.list()
  t.same(onNewAccount.data.map((e) => e.id), [put.json().webhook_endpoint_id])
  const reused = await h.app.inject({ method: 'POST', url, headers: h.dev.headers })
  t.match(reused.json(), { created: false, webhook_endpoint_id: put.json().webhook_endpoint_id })
  await configureStripe(h.app, h.dev, h.project.id, { secret_key: h.account.test.secret_key, publishable_key: h.account.test.publishable_key })
})

t.test('the managed endpoint needs a configuration and an owned project', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  assertProblem(t, await h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${h.project.id}/webhook-endpoint?test_mode=false`, headers: h.dev.headers }), 409, 'stripe_not_configured')
  assertProblem(t, await h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${h.project.id}/webhook-endpoint`, headers: newDeveloper().headers }), 404, 'not_found')
})
