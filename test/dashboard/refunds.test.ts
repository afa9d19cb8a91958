import t, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { assertProblem, createProject, newDeveloper } from '../helpers/app.ts'
import { expectedTotals, get, today, type Page } from '../helpers/dashboard.ts'
import { connectWebhooks, localAction, openShop, startCheckout, type Shop } from '../helpers/end-user.ts'

// End to end: refunds are created at the local Stripe server, whose charge.refunded reaches the app over HTTP.

interface TxOut { id: string, status: string, amount: number, amount_refunded: number, currency: string, end_user_id: string | null }
interface Totals { currency: string, gross: number, refunded: number, net: number, succeeded_count: number, failed_count: number }

async function webhookShop (t: Test): Promise<Shop> {
  const shop = await openShop(t, { listen: true })
  await connectWebhooks(shop)
  return shop
}

async function pay (shop: Shop, user: string, priceId: string, outcome: 'complete' | 'fail' = 'complete'): Promise<void> {
  const res = await startCheckout(shop, user, { price_id: priceId })
  if (res.statusCode !== 201) throw new Error(res.body)
  await localAction(shop.local, `/checkout/sessions/${res.json<{ session_id: string }>().session_id}/${outcome}`)
  await shop.local.idle()
}

async function paymentOf (shop: Shop, user: string, status?: string): Promise<TxOut> {
  await shop.local.idle()
  const res = await get(shop.app, shop.dev, `/api/v1/payments/stripe/projects/${shop.project.id}/payments`, { customer: user, ...(status ? { status } : {}) })
  const row = res.json<Page<TxOut>>().data[0]
  if (!row) throw new Error(`no payment for ${user}: ${res.body}`)
  return row
}

const refund = (shop: Shop, body: Record<string, unknown>, headers: Record<string, string> = {}, projectId = shop.project.id, dev = shop.dev) =>
  shop.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${projectId}/refunds`, headers: { ...dev.headers, ...headers }, payload: body })

async function statsTotals (shop: Shop): Promise<Totals[]> {
  await shop.local.idle()
  return (await get(shop.app, shop.dev, '/api/v1/payments/stats', { project_id: shop.project.id })).json<{ totals: Totals[] }>().totals
}

t.test('partial refund, then the rest; over-refund refused; the answer says the change comes with charge.refunded', async (t) => {
  const shop = await webhookShop(t)
  await pay(shop, 'ann', shop.oneTime.id)
  const paid = await paymentOf(shop, 'ann')
  t.match(paid, { status: 'succeeded', amount: 1099, amount_refunded: 0 })

  const first = await refund(shop, { transaction_id: paid.id, amount: 300, reason: 'requested_by_customer' })
  t.equal(first.statusCode, 202, first.body)
  t.match(first.json(), { refund_id: /^re_/, amount: 300, currency: 'usd', transaction_id: paid.id, applied: false, message: /charge\.refunded/ })
  t.match(await paymentOf(shop, 'ann'), { status: 'partially_refunded', amount_refunded: 300 }, 'applied by the webhook')
  t.match(await statsTotals(shop), [{ currency: 'usd', gross: 1099, refunded: 300, net: 799, succeeded_count: 1 }])

  assertProblem(t, await refund(shop, { transaction_id: paid.id, amount: 800 }), 400, 'amount_exceeds_refundable')
  const rest = await refund(shop, { transaction_id: paid.id })
  t.equal(rest.statusCode, 202, rest.body)
  t.equal(rest.json().amount, 799, 'no amount: everything left')
  t.match(await paymentOf(shop, 'ann'), { status: 'refunded', amount_refunded: 1099 })
  assertProblem(t, await refund(shop, { transaction_id: paid.id, amount: 1 }), 400, 'not_refundable')
  t.match(await statsTotals(shop), [{ currency: 'usd', gross: 1099, refunded: 1099, net: 0 }])
  t.same((await recomputeStats(shop.app.db, { check: true, projectId: shop.project.id })).drift, [], 'stats equal to recompute')
})

t.test('a double click refunds once; an Idempotency-Key is honoured', async (t) => {
  const shop = await webhookShop(t)
  await pay(shop, 'bea', shop.oneTime.id)
  const paid = await paymentOf(shop, 'bea')
  const [a, b] = await Promise.all([refund(shop, { transaction_id: paid.id, amount: 100 }), refund(shop, { transaction_id: paid.id, amount: 100 })])
  t.equal(a.statusCode, 202, a.body)
  t.equal(b.statusCode, 202, b.body)
  t.equal(a.json().refund_id, b.json().refund_id, 'the same refund')
  t.match(await paymentOf(shop, 'bea'), { amount_refunded: 100 })

  const k1 = await refund(shop, { transaction_id: paid.id, amount: 50 }, { 'idempotency-key': 'click-1' })
  const k2 = await refund(shop, { transaction_id: paid.id, amount: 50 }, { 'idempotency-key': 'click-1' })
  t.equal(k1.json().refund_id, k2.json().refund_id)
  const k3 = await refund(shop, { transaction_id: paid.id, amount: 50 }, { 'idempotency-key': 'click-2' })
  t.not(k3.json().refund_id, k1.json().refund_id, 'a new key is a new refund')
  t.match(await paymentOf(shop, 'bea'), { amount_refunded: 200 })
  assertProblem(t, await refund(shop, { transaction_id: paid.id, amount: 60 }, { 'idempotency-key': 'click-1' }), 409, 'idempotency_key_reused')
})

t.test('a failed payment, a pending one, someone else\'s project or transaction: refused', async (t) => {
  const shop = await webhookShop(t)
  await pay(shop, 'cid', shop.oneTime.id, 'fail')
  const failed = await paymentOf(shop, 'cid', 'failed')
  assertProblem(t, await refund(shop, { transaction_id: failed.id }), 400, 'not_refundable')
  const pending = await startCheckout(shop, 'dan', { price_id: shop.oneTime.id })
  t.equal(pending.statusCode, 201)
  assertProblem(t, await refund(shop, { transaction_id: (await paymentOf(shop, 'dan', 'pending')).id }), 400, 'not_refundable')

  await pay(shop, 'eve', shop.oneTime.id)
  const paid = await paymentOf(shop, 'eve')
  const mallory = newDeveloper()
  const hers = await createProject(shop.app, mallory)
  assertProblem(t, await refund(shop, { transaction_id: paid.id }, {}, shop.project.id, mallory), 404, 'not_found')
  assertProblem(t, await refund(shop, { transaction_id: paid.id }, {}, hers.id, mallory), 404, 'not_found')
  const own = await createProject(shop.app, shop.dev, 'Other shop')
  assertProblem(t, await refund(shop, { transaction_id: paid.id }, {}, own.id), 404, 'not_found')
  t.equal((await refund(shop, { transaction_id: paid.id, amount: 0 })).statusCode, 400)
  t.equal((await refund(shop, { transaction_id: paid.id, reason: 'because' })).statusCode, 400)
  t.match(await paymentOf(shop, 'eve'), { status: 'succeeded', amount_refunded: 0 }, 'nothing refunded by the refusals')
})

t.test('stats equal recompute and the source rows after a mixed workload (usd, jpy, subscriptions, failures, refunds)', async (t) => {
  const shop = await webhookShop(t)
  const yen = await shop.stripe.prices.create({ product_data: { name: 'Yen pack' }, unit_amount: 1500, currency: 'jpy' })
  await pay(shop, 'u1', shop.monthly.id)
  await pay(shop, 'u2', shop.monthlyEur.id)
  await pay(shop, 'u3', yen.id)
  await pay(shop, 'u4', yen.id, 'fail')
  await pay(shop, 'u5', shop.oneTime.id)
  const jpy = await paymentOf(shop, 'u3')
  t.equal(jpy.currency, 'jpy')
  t.equal((await refund(shop, { transaction_id: jpy.id, amount: 499 })).statusCode, 202)
  const usd = await paymentOf(shop, 'u5')
  t.equal((await refund(shop, { transaction_id: usd.id })).statusCode, 202)
  const sub = (await get(shop.app, shop.dev, '/api/v1/payments/subscriptions', { customer: 'u1' })).json<Page<{ stripe_subscription_id: string }>>().data[0]
  await localAction(shop.local, `/subscriptions/${sub?.stripe_subscription_id ?? ''}/fail-payment`)
  await shop.stripe.subscriptions.cancel(sub?.stripe_subscription_id ?? '')
  await shop.local.idle()

  t.same((await recomputeStats(shop.app.db, { check: true, projectId: shop.project.id })).drift, [], 'no drift')
  const stats = (await get(shop.app, shop.dev, '/api/v1/payments/stats', { project_id: shop.project.id })).json<{ totals: Totals[], subscriptions: Record<string, number>, mrr: Array<{ currency: string, amount: number }> }>()
  t.same(stats.totals.map(({ net: _net, ...r }) => r), await expectedTotals(shop.app, shop.dev.id, 'test', today(), today()))
  t.match(stats.totals.find((x) => x.currency === 'jpy'), { gross: 1500, refunded: 499, net: 1001, succeeded_count: 1, failed_count: 1 })
  const [counts] = await queryRows<{ active: number, canceled: number }>(shop.app.db, sql`select count(*) filter (where status = 'active')::int as active,
    count(*) filter (where status = 'canceled')::int as canceled from subscriptions where project_id = ${shop.project.id}`)
  t.match(stats.subscriptions, { active: counts?.active, canceled: counts?.canceled })
  t.same(stats.mrr.filter((m) => m.amount > 0), [{ currency: 'eur', amount: 1800 }])
})
