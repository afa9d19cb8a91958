import { readFileSync } from 'node:fs'
import t from 'tap'
import Stripe from 'stripe'
import { signatureHeader, signPayload } from '../../stripe-local/index.ts'
import { client, dashboard, monthlyPrice, receiver, setup, subscriptionCheckout, webhook } from './helpers.ts'

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url)

t.test('the signer reproduces signature-examples.json and the SDK accepts it', async t => {
  const vectors = JSON.parse(readFileSync(fixture('signature-examples.json'), 'utf8')) as {
    endpoint_secret: string; timestamp: number; expected_v1: string; stripe_signature_header: string
    secret_rolling_example: { header: string }
  }
  const payload = readFileSync(fixture('payment_intent.succeeded.json'))
  t.equal(signPayload(vectors.endpoint_secret, vectors.timestamp, payload), vectors.expected_v1)
  t.equal(signatureHeader(vectors.endpoint_secret, vectors.timestamp, payload.toString('utf8')), vectors.stripe_signature_header)
  const stripe = new Stripe('sk_test_unused')
  const at = (seconds: number) => (vectors.timestamp + seconds) * 1000
  const event = stripe.webhooks.constructEvent(payload, vectors.stripe_signature_header, vectors.endpoint_secret, 300, undefined, at(10))
  t.equal(event.type, 'payment_intent.succeeded')
  t.ok(stripe.webhooks.constructEvent(payload, vectors.secret_rolling_example.header, vectors.endpoint_secret, 300, undefined, at(10)), 'any v1 may match while a secret rolls')
  t.throws(() => stripe.webhooks.constructEvent(payload, vectors.stripe_signature_header, vectors.endpoint_secret, 300, undefined, at(301)), /Timestamp outside the tolerance zone/)
  const tampered = Buffer.from(payload)
  tampered[10] = (tampered[10] ?? 0) ^ 1
  t.throws(() => stripe.webhooks.constructEvent(tampered, vectors.stripe_signature_header, vectors.endpoint_secret, 300, undefined, at(10)), /No signatures found matching/)
})

t.test('a receiver answering 500 gets retries with backoff until it answers 2xx', async t => {
  const { stripe, local, account } = await setup(t, { retry: { maxAttempts: 5, baseDelayMs: 20 } })
  const hook = await receiver(t, n => (n <= 2 ? 500 : 200))
  const secret = await webhook(stripe, hook.url)
  const started = Date.now()
  await stripe.customers.create({ email: 'retry@example.com' })
  await local.idle()
  t.ok(Date.now() - started >= 20 + 40, 'waited base, then twice base')
  t.equal(hook.requests(), 3)
  t.same(hook.types(), ['customer.created'])
  const only = hook.received[0]
  t.ok(only && stripe.webhooks.constructEvent(only.body, only.headers['stripe-signature'] as string, secret))
  t.match(local.deliveries(account.account_id), [{ type: 'customer.created', attempts: 3, status: 'delivered', last_status_code: 200, url: hook.url }])
})

t.test('delivery gives up after maxAttempts and idle() still resolves', async t => {
  const { stripe, local, account } = await setup(t, { retry: { maxAttempts: 3, baseDelayMs: 5 } })
  const hook = await receiver(t, () => 503)
  await webhook(stripe, hook.url)
  await stripe.customers.create({ email: 'down@example.com' })
  await local.idle()
  t.equal(hook.requests(), 3)
  t.match(local.deliveries(account.account_id), [{ attempts: 3, status: 'failed', last_status_code: 503 }])
})

t.test('an unreachable endpoint does not block the API response', async t => {
  const { stripe, local, account } = await setup(t, { retry: { maxAttempts: 2, baseDelayMs: 5 } })
  await webhook(stripe, 'http://127.0.0.1:9/unreachable')
  const customer = await stripe.customers.create({ email: 'fast@example.com' })
  t.match(customer.id, /^cus_/)
  await local.idle()
  t.match(local.deliveries(account.account_id), [{ status: 'failed', last_status_code: null, attempts: 2 }])
})

t.test('duplicate = 1 sends every event twice with the same id', async t => {
  const { stripe, local, account } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url)
  local.setDeliveryOptions(account.account_id, { duplicate: 1 })
  await stripe.customers.create({ email: 'dup@example.com' })
  await local.idle()
  t.equal(hook.received.length, 2)
  t.equal(hook.received[0]?.event.id, hook.received[1]?.event.id)
  t.equal(hook.received[0]?.body, hook.received[1]?.body)
})

t.test('shuffle delivers a batch out of creation order; delay_ms spaces sends', async t => {
  const { stripe, local, account } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url)
  const session = await subscriptionCheckout(stripe, await monthlyPrice(stripe))
  await local.idle()
  hook.received.length = 0
  // over HTTP, as a demo would do it
  await dashboard(local, `/accounts/${account.account_id}/delivery-options`, { shuffle: true, delay_ms: 2 })
  let order: string[] = []
  let created: string[] = []
  // one permutation of ten events can be the identity (1 in 10!); retrying keeps the test honest and stable
  for (let round = 0; round < 3 && order.join() === created.join(); round++) {
    hook.received.length = 0
    const s = round === 0 ? session : await subscriptionCheckout(stripe, await monthlyPrice(stripe))
    const started = Date.now()
    await dashboard(local, `/checkout/sessions/${s.id}/complete`)
    await local.idle()
    t.ok(Date.now() - started >= 2 * hook.received.length, 'each send waited delay_ms')
    order = hook.received.map(r => r.event.id)
    created = (await stripe.events.list({ limit: 100 })).data.slice(0, order.length).map(e => e.id).reverse()
  }
  t.same([...order].sort(), [...created].sort(), 'the same events')
  t.not(order.join(), created.join(), 'in another order')
})

t.test('events respect enabled_events, mode and the endpoint\'s api_version', async t => {
  const { stripe, local, account } = await setup(t)
  const all = await receiver(t)
  const some = await receiver(t)
  const live = await receiver(t)
  await webhook(stripe, all.url)
  await stripe.webhookEndpoints.create({ url: some.url, enabled_events: ['customer.updated'], api_version: '2026-07-29.dahlia' })
  await webhook(client(local, account.live.secret_key), live.url)
  const customer = await stripe.customers.create({ email: 'v@example.com' })
  await stripe.customers.update(customer.id, { name: 'V' })
  await local.idle()
  t.same(all.types(), ['customer.created', 'customer.updated'])
  t.same(some.types(), ['customer.updated'])
  t.equal(some.received[0]?.event.api_version, '2026-07-29.dahlia')
  t.equal(all.received[0]?.event.api_version, Stripe.API_VERSION)
  t.same(live.types(), [], 'test events never reach live endpoints')
  t.match(all.received[1]?.event, { data: { previous_attributes: { name: null } }, pending_webhooks: 2 })
})

t.test('the _local HTTP routes: accounts, deliveries, idle', async t => {
  const { local } = await setup(t)
  const account = await dashboard<{ account_id: string; test: { secret_key: string; restricted_key: string } }>(local, '/accounts')
  t.match(account, { account_id: /^acct_/, test: { secret_key: /^sk_test_\w{24,}$/, restricted_key: /^rk_test_/ } })
  const stripe = client(local, account.test.secret_key)
  const hook = await receiver(t)
  await webhook(stripe, hook.url)
  await stripe.customers.create({ email: 'h@example.com' })
  t.same(await dashboard(local, '/idle'), { idle: true })
  const res = await fetch(`${local.url}/_local/accounts/${account.account_id}/deliveries`)
  t.match(await res.json(), { object: 'list', data: [{ type: 'customer.created', status: 'delivered', attempts: 1 }] })
  const missing = await fetch(`${local.url}/_local/subscriptions/sub_nope/renew`, { method: 'POST' })
  t.equal(missing.status, 404)
  t.match(await missing.json(), { error: { code: 'resource_missing' } })
  const page = await fetch(`${local.url}/_local/checkout/pay/cs_test_nope`)
  t.equal(page.status, 404)
})
