import { randomBytes } from 'node:crypto'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { assertProblem, countRows } from '../helpers/app.ts'
import { eventStatuses, fakeEvent, postEvent, projectSnapshot, refuseTransactionsOf, signed, webhookHarness } from '../helpers/webhooks.ts'

const paymentIntent = (id: string, amount = 1500) => ({
  id, object: 'payment_intent', amount, amount_received: amount, currency: 'usd', metadata: {}, latest_charge: `ch_${id}`, customer: null, description: 'Credits',
})

t.test('the same event delivered concurrently is applied once', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const body = JSON.stringify(fakeEvent('payment_intent.succeeded', paymentIntent('pi_concurrent')))
  const results = await Promise.all(Array.from({ length: 8 }, () => postEvent(h.app, h.project.id, body, signed(body, h.secret))))
  t.ok(results.every((r) => r.statusCode === 200), 'every delivery is answered 200')
  t.equal(results.filter((r) => r.json().duplicate !== true).length, 1, 'exactly one applied it')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 1)
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 1)
  const snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.daily, [{ gross: 1500, succeeded_count: 1 }])
})

t.test('an event whose processing throws leaves nothing behind, answers 500 and is failed (not a duplicate) next time', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  // An invoice the project's Stripe account does not have: reading it (for its payment intent) fails.
  const event = fakeEvent('invoice.paid', { id: 'in_not_at_stripe', object: 'invoice', total: 1200, currency: 'usd', customer: 'cus_1' })
  const body = JSON.stringify(event)
  const res = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  assertProblem(t, res, 500, 'webhook_processing_failed')
  t.notMatch(res.body, /TypeError|at .*\.ts/, 'no stack or internal error in the response')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 0)
  t.match(await eventStatuses(h.app, h.project.id), [{ id: event.id, status: 'failed', attempts: 1 }])
  const again = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.equal(again.statusCode, 500, 'processed again, not answered as a duplicate')
  t.match(await eventStatuses(h.app, h.project.id), [{ id: event.id, status: 'failed', attempts: 2 }])
  const list = await h.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${h.project.id}/events?status=failed`, headers: h.dev.headers })
  t.equal(list.statusCode, 200)
  t.match(list.json().data, [{ id: event.id, status: 'failed', attempts: 2, error: /No such invoice/ }])
})

t.test('a database error mid-transaction answers 5xx, rolls back the event and its effects, and succeeds on retry', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const pi = `pi_boom_${randomBytes(4).toString('hex')}`
  const refusal = await refuseTransactionsOf(t, h.app, pi)

  const event = fakeEvent('payment_intent.succeeded', paymentIntent(pi, 2500))
  const body = JSON.stringify(event)
  assertProblem(t, await postEvent(h.app, h.project.id, body, signed(body, h.secret)), 500, 'webhook_processing_failed')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 0, 'nothing half-applied')
  t.same((await projectSnapshot(h.app, h.project.id)).daily, [], 'no stats')
  t.match(await eventStatuses(h.app, h.project.id), [{ id: event.id, status: 'failed', attempts: 1 }])

  await refusal.remove()
  const retry = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.equal(retry.statusCode, 200)
  t.same(retry.json(), { received: true })
  t.match(await eventStatuses(h.app, h.project.id), [{ id: event.id, status: 'processed', attempts: 2 }])
  t.match((await projectSnapshot(h.app, h.project.id)).daily, [{ gross: 2500, succeeded_count: 1 }])
  const dup = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.same(dup.json(), { received: true, duplicate: true }, 'once processed, a delivery is a duplicate')
})

t.test('an older event never overwrites newer state', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const base = Math.floor(Date.now() / 1000) - 1000
  const sub = (status: string, quantity: number) => ({
    id: 'sub_order', object: 'subscription', status, customer: 'cus_order', created: base, cancel_at_period_end: false, canceled_at: null, ended_at: null, trial_end: null,
    currency: 'usd', metadata: {},
    items: { object: 'list', data: [{ id: 'si_1', quantity, current_period_start: base, current_period_end: base + 2592000, price: { id: 'price_1', product: 'prod_1', unit_amount: 1000, currency: 'usd', recurring: { interval: 'month', interval_count: 1 } } }] },
  })
  const newer = JSON.stringify(fakeEvent('customer.subscription.updated', sub('past_due', 3), { created: base + 60 }))
  const older = JSON.stringify(fakeEvent('customer.subscription.updated', sub('active', 1), { created: base + 30 }))
  t.equal((await postEvent(h.app, h.project.id, newer, signed(newer, h.secret))).statusCode, 200)
  t.equal((await postEvent(h.app, h.project.id, older, signed(older, h.secret))).statusCode, 200)
  const snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.subscriptions, [{ status: 'past_due', quantity: 3 }])
  t.match(snap.current, [{ past_due: 1, active: 0, mrr: 3000 }])

  const canceled = JSON.stringify(fakeEvent('customer.subscription.deleted', { ...sub('canceled', 3), ended_at: base + 90 }, { created: base + 90 }))
  const lateUpdate = JSON.stringify(fakeEvent('customer.subscription.updated', sub('active', 3), { created: base + 90 }))
  await postEvent(h.app, h.project.id, canceled, signed(canceled, h.secret))
  await postEvent(h.app, h.project.id, lateUpdate, signed(lateUpdate, h.secret))
  const after = await projectSnapshot(h.app, h.project.id)
  t.match(after.subscriptions, [{ status: 'canceled' }], 'canceled is terminal, even against a same-second update')
  t.match(after.current, [{ canceled: 1, past_due: 0, mrr: 0 }])
})

t.test('a late payment_failed never undoes a success, and refunds only grow', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const base = Math.floor(Date.now() / 1000) - 100
  const pi = paymentIntent('pi_late', 4200)
  const send = async (type: string, object: Record<string, unknown>, created: number) => {
    const body = JSON.stringify(fakeEvent(type, object, { created }))
    t.equal((await postEvent(h.app, h.project.id, body, signed(body, h.secret))).statusCode, 200, type)
  }
  await send('payment_intent.succeeded', pi, base + 10)
  await send('charge.refunded', { id: 'ch_pi_late', object: 'charge', amount: 4200, amount_refunded: 4200, currency: 'usd', payment_intent: 'pi_late', created: base + 10, customer: null, description: null, refunds: { data: [{ id: 're_2', created: base + 30 }] } }, base + 30)
  await send('charge.refunded', { id: 'ch_pi_late', object: 'charge', amount: 4200, amount_refunded: 200, currency: 'usd', payment_intent: 'pi_late', created: base + 10, customer: null, description: null, refunds: { data: [{ id: 're_1', created: base + 20 }] } }, base + 20)
  await send('payment_intent.payment_failed', { ...pi, amount_received: 0, latest_charge: null }, base + 5)
  const snap = await projectSnapshot(h.app, h.project.id)
  t.equal(snap.transactions.length, 1)
  t.match(snap.transactions[0], { status: 'refunded', amount_refunded: 4200, stripe_charge_id: 'ch_pi_late' })
  t.match(snap.daily, [{ gross: 4200, refunded: 4200, succeeded_count: 1, failed_count: 0 }])
})

t.test('a duplicate invoice event is answered without reading from Stripe', async (t) => {
  const { processEvent } = await import('../../src/webhooks/pipeline/process.ts')
  const h = await webhookHarness(t)
  const price = await h.stripe.prices.create({ product_data: { name: 'Pro' }, unit_amount: 1200, currency: 'usd', recurring: { interval: 'month' } })
  const session = await h.stripe.checkout.sessions.create({ mode: 'subscription', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' })
  await fetch(`${h.local.url}/_local/checkout/sessions/${session.id}/complete`, { method: 'POST' })
  await h.local.idle()
  const rows = await h.app.db.execute(sql`select id, payload::text as payload from webhook_events where project_id = ${h.project.id} and type = 'invoice.paid'`)
  const list = (Array.isArray(rows) ? rows : (rows as unknown as { rows: unknown[] }).rows) as Array<{ id: string, payload: string }>
  const recorded = list[0]
  if (!recorded) throw new Error('invoice.paid was not delivered')
  const resolved = await h.app.stripeResolver.resolve(h.project.id, 'test')
  if (!resolved) throw new Error('not configured')
  let reads = 0
  const input = {
    project: { id: h.project.id, developerId: h.dev.id }, mode: 'test' as const, event: JSON.parse(recorded.payload), payload: recorded.payload,
    stripe: async () => { reads++; return resolved.stripe },
  }
  t.equal(await processEvent(h.app.db, input), 'duplicate')
  t.equal(reads, 0, 'no Stripe read for a duplicate')
  t.equal(await processEvent(h.app.db, { ...input, force: true }), 'processed', 'a replay still reads and re-applies')
  t.equal(reads, 1)
})

t.test('the stored payload is the body exactly as Stripe signed it, and a replay runs from it', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  // Spacing and key order that a jsonb round trip would not keep.
  const event = fakeEvent('payment_intent.succeeded', paymentIntent('pi_exact', 900))
  const body = JSON.stringify(event, null, 1).replace('"object": "event"', '"object":   "event"')
  t.equal((await postEvent(h.app, h.project.id, body, signed(body, h.secret))).statusCode, 200)
  const [row] = await queryRows<{ payload: string }>(h.app.db, sql`select payload from webhook_events where project_id = ${h.project.id} and id = ${event.id}`)
  t.equal(row?.payload, body, 'byte for byte')
  const replay = await h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${h.project.id}/events/${event.id}/replay`, headers: h.dev.headers })
  t.equal(replay.statusCode, 200)
  t.match(replay.json(), { outcome: 'processed', event: { id: event.id, status: 'processed', attempts: 2 } })
  t.match((await projectSnapshot(h.app, h.project.id)).daily, [{ gross: 900, succeeded_count: 1 }], 'the replay counted nothing twice')
})
