import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { eventStatuses, fakeEvent, postEvent, projectSnapshot, signed, webhookHarness, type Harness } from '../helpers/webhooks.ts'

const now = Math.floor(Date.now() / 1000)

const subscription = (status: string, extra: Record<string, unknown> = {}) => ({
  id: 'sub_pause', object: 'subscription', status, customer: 'cus_pause', created: now - 500, currency: 'usd',
  cancel_at_period_end: false, canceled_at: null, ended_at: null, trial_end: null, metadata: { end_user_id: 'user-pause' }, pause_collection: null,
  items: { object: 'list', data: [{ id: 'si_pause', quantity: 1, current_period_start: now - 500, current_period_end: now + 86_400 * 30, price: { id: 'price_pause', product: 'prod_pause', unit_amount: 2000, currency: 'usd', recurring: { interval: 'month', interval_count: 1 } } }] },
  ...extra,
})

const deliver = async (h: Harness, type: string, object: Record<string, unknown>, created: number) => {
  const body = JSON.stringify(fakeEvent(type, object, { created }))
  const res = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.equal(res.statusCode, 200, `${type} answered 200`)
}

const listed = async (h: Harness) => {
  const res = await h.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${h.project.id}/subscriptions`, headers: h.dev.headers })
  if (res.statusCode !== 200) throw new Error(`list: ${res.statusCode} ${res.body}`)
  return res.json<{ data: Array<Record<string, unknown>> }>().data
}

/** pause_collection is stored on the row (not yet part of the subscription view: the HTTP contract is unchanged). */
const pauseOf = async (h: Harness) => queryRows<{ pause_collection: string | null, pause_resumes_at: string | null }>(h.app.db,
  sql`select pause_collection, to_char(pause_resumes_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') as pause_resumes_at from subscriptions where project_id = ${h.project.id}`)

t.test('customer.subscription.paused and .resumed move the row and its status bucket; pause_collection is kept and shown', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  await deliver(h, 'customer.subscription.created', subscription('active'), now - 400)
  await deliver(h, 'customer.subscription.updated', subscription('active', { pause_collection: { behavior: 'void', resumes_at: now + 86_400 } }), now - 300)
  t.match(await listed(h), [{ status: 'active' }], 'collection paused, status still active')
  t.same(await pauseOf(h), [{ pause_collection: 'void', pause_resumes_at: new Date((now + 86_400) * 1000).toISOString().replace('.000', '') }], 'the row keeps pause_collection')

  await deliver(h, 'customer.subscription.paused', subscription('paused'), now - 200)
  let snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.subscriptions, [{ status: 'paused', end_user_id: 'user-pause' }])
  t.match(snap.current, [{ currency: 'usd', active: 0, paused: 1, mrr: 0 }], 'a paused subscription is out of MRR')
  t.match(await listed(h), [{ status: 'paused' }])
  t.same(await pauseOf(h), [{ pause_collection: null, pause_resumes_at: null }], 'the pause_collection the paused event carries (none) replaces the old one')

  await deliver(h, 'customer.subscription.resumed', subscription('active'), now - 100)
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.current, [{ currency: 'usd', active: 1, paused: 0, mrr: 2000 }], 'back in MRR')
  await deliver(h, 'customer.subscription.paused', subscription('paused'), now - 200)
  t.match((await projectSnapshot(h.app, h.project.id)).subscriptions, [{ status: 'active' }], 'a late paused event does not undo the newer resume')
  t.same((await eventStatuses(h.app, h.project.id)).map((e) => e.status), ['processed', 'processed', 'processed', 'processed', 'processed'])
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
})
