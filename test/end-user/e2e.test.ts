import t, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { queryRows } from '../../src/platform/db/client.ts'
import { connectWebhooks, endUserCall, localAction, openShop, startCheckout, type Shop } from '../helpers/end-user.ts'

// End to end through the local Stripe server, with its webhooks delivered to the app over HTTP.
const e2e = (name: string, fn: (t: Test) => Promise<void>) => t.test(name, fn)

interface SubOut { status: string, price_id: string | null, amount: number | null, cancel_at_period_end: boolean, canceled_at: string | null, trial_end: string | null, stripe_subscription_id: string }
interface TxOut { kind: string, status: string, amount: number, currency: string, stripe_checkout_session_id: string | null, stripe_payment_intent_id: string | null, succeeded_at: string | null }

async function webhookShop (t: Test): Promise<Shop> {
  const shop = await openShop(t, { listen: true })
  await connectWebhooks(shop)
  return shop
}

async function mine (shop: Shop, user: string): Promise<SubOut | null> {
  await shop.local.idle()
  return (await endUserCall(shop, user, 'GET', 'my-subscription')).json<{ data: SubOut | null }>().data
}

async function payments (shop: Shop, user: string): Promise<TxOut[]> {
  await shop.local.idle()
  return (await endUserCall(shop, user, 'GET', 'my-payments')).json<{ data: TxOut[] }>().data
}

async function stats (app: FastifyInstance, projectId: string) {
  const [row] = await queryRows<{ active: number, trialing: number, canceled: number, mrr: number }>(app.db, sql`select coalesce(sum(active), 0)::int as active,
    coalesce(sum(trialing), 0)::int as trialing, coalesce(sum(canceled), 0)::int as canceled, coalesce(sum(mrr), 0)::int as mrr
    from stats_subscriptions where project_id = ${projectId} and mode = 'test'`)
  return row
}

async function eventStatuses (app: FastifyInstance, projectId: string, type: string): Promise<string[]> {
  const rows = await queryRows<{ status: string }>(app.db, sql`select status from webhook_events where project_id = ${projectId} and type = ${type}`)
  return rows.map((r) => r.status)
}

async function checkout (shop: Shop, user: string, body: Record<string, unknown>): Promise<string> {
  const res = await startCheckout(shop, user, body)
  if (res.statusCode !== 201) throw new Error(res.body)
  return res.json<{ session_id: string }>().session_id
}

e2e('subscribe → webhooks → active; change plan → cancel at period end → resume → cancel now → deleted', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'alice', { price_id: shop.monthly.id })
  t.equal(await mine(shop, 'alice'), null, 'nothing before payment')
  await localAction(shop.local, `/checkout/sessions/${session}/complete`)
  t.match(await mine(shop, 'alice'), { status: 'active', price_id: shop.monthly.id, amount: 2000, cancel_at_period_end: false })
  t.match(await stats(shop.app, shop.project.id), { active: 1, mrr: 2000 }, 'stats updated by the webhooks')
  t.ok((await payments(shop, 'alice')).some((p) => p.kind === 'invoice' && p.status === 'succeeded' && p.amount === 2000), 'the first invoice is a payment')

  const changed = await endUserCall(shop, 'alice', 'POST', 'update-subscription', { price_id: shop.monthlyPremium.id })
  t.equal(changed.statusCode, 200, changed.body)
  t.match(await mine(shop, 'alice'), { status: 'active', price_id: shop.monthlyPremium.id, amount: 5000 }, 'the webhook agrees with the plan change')
  t.match(await stats(shop.app, shop.project.id), { active: 1, mrr: 5000 })

  t.match((await endUserCall(shop, 'alice', 'POST', 'cancel-subscription')).json(), { cancel_at_period_end: true })
  t.match(await mine(shop, 'alice'), { status: 'active', cancel_at_period_end: true })
  t.match((await endUserCall(shop, 'alice', 'POST', 'update-subscription', { resume: true })).json(), { cancel_at_period_end: false })
  t.match(await mine(shop, 'alice'), { status: 'active', cancel_at_period_end: false })

  const ended = await endUserCall(shop, 'alice', 'POST', 'cancel-subscription', { at_period_end: false })
  t.match(ended.json(), { status: 'canceled' })
  t.match(await mine(shop, 'alice'), { status: 'canceled', canceled_at: String })
  t.same(await eventStatuses(shop.app, shop.project.id, 'customer.subscription.deleted'), ['processed'])
  t.match(await stats(shop.app, shop.project.id), { active: 0, canceled: 1, mrr: 0 }, 'counted once, not twice')
})

e2e('a trial: trialing with its end, not in MRR; the second checkout is refused', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'bob', { price_id: shop.monthly.id, trial_period_days: 30 })
  await localAction(shop.local, `/checkout/sessions/${session}/complete`)
  const sub = await mine(shop, 'bob')
  t.match(sub, { status: 'trialing', trial_end: String })
  t.ok(sub?.trial_end && Date.parse(sub.trial_end) > Date.now() + 29 * 86_400_000)
  t.match(await stats(shop.app, shop.project.id), { trialing: 1, mrr: 0 })
  const again = await startCheckout(shop, 'bob', { price_id: shop.monthlyPremium.id })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'subscription_exists')
})

e2e('a one-time purchase: the pending row becomes succeeded, once', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'carol', { price_id: shop.oneTime.id, quantity: 2 })
  t.match(await payments(shop, 'carol'), [{ status: 'pending', amount: 2198 }])
  await localAction(shop.local, `/checkout/sessions/${session}/complete`)
  const rows = await payments(shop, 'carol')
  t.equal(rows.length, 1, 'one row, completed in place')
  t.match(rows[0], { kind: 'one_time', status: 'succeeded', amount: 2198, currency: 'usd', stripe_checkout_session_id: session, stripe_payment_intent_id: /^pi_/, succeeded_at: String })
  t.equal(await mine(shop, 'carol'), null, 'no subscription from a one-time purchase')
})

e2e('a declined payment shows as failed and nothing succeeded', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'dave', { price_id: shop.oneTime.id })
  await localAction(shop.local, `/checkout/sessions/${session}/fail`)
  const rows = await payments(shop, 'dave')
  t.ok(rows.some((r) => r.status === 'failed'), JSON.stringify(rows))
  t.notOk(rows.some((r) => r.status === 'succeeded'))
})

e2e('an expired session expires its pending row', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'erin', { price_id: shop.oneTime.id })
  await shop.stripe.checkout.sessions.expire(session)
  t.match(await payments(shop, 'erin'), [{ status: 'expired', stripe_checkout_session_id: session }])
})

e2e('a failed renewal makes the subscription past due; a second checkout is still refused', async (t) => {
  const shop = await webhookShop(t)
  const session = await checkout(shop, 'frank', { price_id: shop.monthly.id })
  await localAction(shop.local, `/checkout/sessions/${session}/complete`)
  const sub = await mine(shop, 'frank')
  await localAction(shop.local, `/subscriptions/${sub?.stripe_subscription_id ?? ''}/fail-payment`)
  t.match(await mine(shop, 'frank'), { status: 'past_due' })
  t.equal((await startCheckout(shop, 'frank', { price_id: shop.monthly.id })).json().code, 'subscription_exists')
})
