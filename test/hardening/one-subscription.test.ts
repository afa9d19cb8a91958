import t from 'tap'
import type Stripe from 'stripe'
import { assertProblem } from '../helpers/app.ts'
import { endUserCall, localAction, openShop, seedSubscription, startCheckout, subscribe } from '../helpers/end-user.ts'

interface SessionOut { session_id: string }

async function openSessions (stripe: Stripe, customer: string): Promise<Stripe.Checkout.Session[]> {
  return (await stripe.checkout.sessions.list({ customer, status: 'open', limit: 100 })).data.filter((s) => s.mode === 'subscription')
}

t.test('a second subscription checkout expires the earlier one at Stripe: only one can be paid', async (t) => {
  const shop = await openShop(t)
  const first = await startCheckout(shop, 'u1', { price_id: shop.monthly.id })
  t.equal(first.statusCode, 201, first.body)
  const second = await startCheckout(shop, 'u1', { price_id: shop.monthlyPremium.id })
  t.equal(second.statusCode, 201, second.body)
  const a = await shop.stripe.checkout.sessions.retrieve(first.json<SessionOut>().session_id)
  const b = await shop.stripe.checkout.sessions.retrieve(second.json<SessionOut>().session_id)
  t.equal(a.status, 'expired', 'the earlier session is expired at Stripe')
  t.equal(b.status, 'open')
  await t.rejects(localAction(shop.local, `/checkout/sessions/${a.id}/complete`), 'the expired session cannot be paid')
  await localAction(shop.local, `/checkout/sessions/${b.id}/complete`)
  const subs = await shop.stripe.subscriptions.list({ customer: b.customer as string, status: 'all' })
  t.equal(subs.data.length, 1, 'one subscription at Stripe')

  // A one-time checkout beside an open subscription checkout expires nothing.
  const third = await startCheckout(shop, 'u2', { price_id: shop.monthly.id })
  const pay = await startCheckout(shop, 'u2', { price_id: shop.oneTime.id })
  t.equal(pay.statusCode, 201)
  t.equal((await shop.stripe.checkout.sessions.retrieve(third.json<SessionOut>().session_id)).status, 'open')
})

t.test('two subscription checkouts at once leave one open session', async (t) => {
  const shop = await openShop(t)
  await startCheckout(shop, 'racer', { price_id: shop.oneTime.id }) // the customer exists
  const answers = await Promise.all([
    startCheckout(shop, 'racer', { price_id: shop.monthly.id }),
    startCheckout(shop, 'racer', { price_id: shop.monthlyPremium.id }),
    startCheckout(shop, 'racer', { price_id: shop.yearly.id }),
  ])
  const created = answers.filter((r) => r.statusCode === 201)
  t.ok(created.length >= 1, 'at least one answered 201')
  for (const r of answers.filter((r) => r.statusCode !== 201)) assertProblem(t, r, 409, 'checkout_superseded')
  const session = await shop.stripe.checkout.sessions.retrieve(created[0]!.json<SessionOut>().session_id)
  const open = await openSessions(shop.stripe, session.customer as string)
  t.equal(open.length, 1, 'exactly one subscription session stays open')
})

t.test('a request repeated with its Idempotency-Key keeps its own session open', async (t) => {
  const shop = await openShop(t)
  const call = () => shop.app.inject({
    method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: { ...shop.headers('idem'), 'idempotency-key': 'k-1' },
    payload: { price_id: shop.monthly.id, success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/no' },
  })
  const one = await call()
  const two = await call()
  t.equal(one.statusCode, 201, one.body)
  t.equal(two.statusCode, 201, two.body)
  t.equal(two.json<SessionOut>().session_id, one.json<SessionOut>().session_id)
  t.equal((await shop.stripe.checkout.sessions.retrieve(one.json<SessionOut>().session_id)).status, 'open')
})

t.test('a second billing subscription anyway is listed and flagged to the end user and the developer', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'twice')
  await seedSubscription(shop, sub)
  const mine = await endUserCall(shop, 'twice', 'GET', 'my-subscription')
  t.match(mine.json(), { duplicate_active: false, active: [{ stripe_subscription_id: sub.id }] })
  // One made in Stripe's dashboard for the same customer (or two tabs paid within milliseconds).
  const other = await shop.stripe.subscriptions.create({ customer: sub.customer as string, items: [{ price: shop.monthlyPremium.id }], default_payment_method: 'pm_card_visa' })
  await seedSubscription(shop, other)

  const body = (await endUserCall(shop, 'twice', 'GET', 'my-subscription')).json<{ data: { stripe_subscription_id: string }, active: Array<{ stripe_subscription_id: string }>, duplicate_active: boolean }>()
  t.equal(body.duplicate_active, true)
  t.same(body.active.map((s) => s.stripe_subscription_id).sort(), [sub.id, other.id].sort(), 'both are listed')

  for (const url of ['/api/v1/payments/subscriptions', `/api/v1/payments/stripe/projects/${shop.project.id}/subscriptions`]) {
    const list = (await shop.app.inject({ url, headers: shop.dev.headers })).json<{ data: Array<{ stripe_subscription_id: string, duplicate_active: boolean }> }>()
    t.same(list.data.map((s) => [s.stripe_subscription_id, s.duplicate_active]).sort(), [[sub.id, true], [other.id, true]].sort(), url)
  }
  await shop.stripe.subscriptions.cancel(other.id)
  await seedSubscription(shop, await shop.stripe.subscriptions.retrieve(other.id))
  const after = (await shop.app.inject({ url: '/api/v1/payments/subscriptions', headers: shop.dev.headers })).json<{ data: Array<{ duplicate_active: boolean }> }>()
  t.same(after.data.map((s) => s.duplicate_active), [false, false], 'no flag once one is canceled')
})
