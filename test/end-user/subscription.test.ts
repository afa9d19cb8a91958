import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { queryRows } from '../../src/platform/db/client.ts'
import { assertProblem, bearer, configureStripe, createProject, endUserToken } from '../helpers/app.ts'
import { endUserCall, openShop, seedSubscription, startCheckout, subscribe, type Shop } from '../helpers/end-user.ts'

interface SubOut { id: string, status: string, price_id: string | null, product_id: string | null, amount: number | null, cancel_at_period_end: boolean, canceled_at: string | null, current_period_end: string | null, trial_end: string | null, end_user_id: string | null, stripe_subscription_id: string }

async function currentStats (app: FastifyInstance, projectId: string) {
  const [row] = await queryRows<{ active: number, trialing: number, canceled: number, mrr: number }>(app.db, sql`select coalesce(sum(active), 0)::int as active,
    coalesce(sum(trialing), 0)::int as trialing, coalesce(sum(canceled), 0)::int as canceled, coalesce(sum(mrr), 0)::int as mrr
    from stats_subscriptions where project_id = ${projectId} and mode = 'test'`)
  return row
}

async function mine (shop: Shop, user: string): Promise<SubOut | null> {
  const res = await endUserCall(shop, user, 'GET', 'my-subscription')
  if (res.statusCode !== 200) throw new Error(res.body)
  return res.json<{ data: SubOut | null }>().data
}

t.test('my-subscription is null before any subscription, then shows plan, status and period', async (t) => {
  const shop = await openShop(t)
  t.same(await endUserCall(shop, 'u1', 'GET', 'my-subscription').then((r) => r.json()), { data: null, active: [], duplicate_active: false })
  const sub = await subscribe(shop, 'u1')
  await seedSubscription(shop, sub)
  const view = await mine(shop, 'u1')
  t.match(view, {
    project_id: shop.project.id, mode: 'test', end_user_id: 'u1', status: 'active', price_id: shop.monthly.id, amount: 2000, currency: 'usd',
    interval: 'month', interval_count: 1, quantity: 1, cancel_at_period_end: false, canceled_at: null, trial_end: null, stripe_subscription_id: sub.id,
  })
  t.ok(view?.current_period_end && Date.parse(view.current_period_end) > Date.now())
  t.same(Object.keys(view ?? {}).sort(), [
    'amount', 'cancel_at_period_end', 'canceled_at', 'created_at', 'currency', 'current_period_end', 'current_period_start', 'end_user_id', 'id',
    'interval', 'interval_count', 'mode', 'price_id', 'product_id', 'project_id', 'quantity', 'status', 'stripe_customer_id', 'stripe_subscription_id',
    'trial_end', 'updated_at',
  ])
  t.same(await endUserCall(shop, 'u1', 'GET', 'my-subscription?test_mode=false').then((r) => r.json()), { data: null, active: [], duplicate_active: false }, 'live mode is separate')
})

t.test('change plan, cancel at period end, resume, cancel now: each answer is Stripe\'s, stored at once, stats follow', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'u2')
  await seedSubscription(shop, sub)
  t.match(await currentStats(shop.app, shop.project.id), { active: 1, mrr: 2000 })

  const changed = await endUserCall(shop, 'u2', 'POST', 'update-subscription', { price_id: shop.monthlyPremium.id, proration_behavior: 'none' })
  t.equal(changed.statusCode, 200, changed.body)
  t.match(changed.json(), { price_id: shop.monthlyPremium.id, amount: 5000, status: 'active' })
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).items.data[0]?.price.id, shop.monthlyPremium.id, 'Stripe swapped the item')
  t.match(await mine(shop, 'u2'), { price_id: shop.monthlyPremium.id, amount: 5000 })
  t.match(await currentStats(shop.app, shop.project.id), { active: 1, mrr: 5000 }, 'MRR follows the plan change')

  const canceling = await endUserCall(shop, 'u2', 'POST', 'cancel-subscription', {})
  t.equal(canceling.statusCode, 200, canceling.body)
  t.match(canceling.json(), { status: 'active', cancel_at_period_end: true })
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).cancel_at_period_end, true)

  const resumed = await endUserCall(shop, 'u2', 'POST', 'update-subscription', { resume: true })
  t.equal(resumed.statusCode, 200, resumed.body)
  t.match(resumed.json(), { status: 'active', cancel_at_period_end: false, canceled_at: null })
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).cancel_at_period_end, false)

  const ended = await endUserCall(shop, 'u2', 'POST', 'cancel-subscription', { at_period_end: false })
  t.equal(ended.statusCode, 200, ended.body)
  t.match(ended.json(), { status: 'canceled', canceled_at: String })
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).status, 'canceled')
  t.match(await mine(shop, 'u2'), { status: 'canceled' }, 'the ended subscription is still shown')
  t.match(await currentStats(shop.app, shop.project.id), { active: 0, canceled: 1, mrr: 0 })

  assertProblem(t, await endUserCall(shop, 'u2', 'POST', 'cancel-subscription', {}), 404, 'no_subscription')
  assertProblem(t, await endUserCall(shop, 'u2', 'POST', 'update-subscription', { price_id: shop.monthly.id }), 404, 'no_subscription')
  t.equal((await startCheckout(shop, 'u2', { price_id: shop.monthly.id })).statusCode, 201, 'a new subscription may start after cancellation')
})

t.test('a trialing subscription shows its trial end', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'trial', { trial_period_days: 7 })
  await seedSubscription(shop, sub)
  const view = await mine(shop, 'trial')
  t.equal(view?.status, 'trialing')
  t.equal(view?.trial_end, new Date((sub.trial_end ?? 0) * 1000).toISOString())
  t.match(await currentStats(shop.app, shop.project.id), { trialing: 1, mrr: 0 })
})

t.test('a direct write never overwrites state a newer webhook already stored', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'u3')
  await seedSubscription(shop, sub)
  // a webhook from the future (say, a renewal that failed) is already applied
  await shop.app.db.execute(sql`update subscriptions set status = 'past_due', last_event_at = ${Math.floor(Date.now() / 1000) + 3600} where stripe_subscription_id = ${sub.id}`)
  const res = await endUserCall(shop, 'u3', 'POST', 'cancel-subscription', {})
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { status: 'past_due', cancel_at_period_end: false }, 'the newer state is kept and returned')
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).cancel_at_period_end, true, 'Stripe did cancel; its own event will bring that')
})

t.test('plan change validation', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'u4')
  await seedSubscription(shop, sub)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['another interval', { price_id: shop.yearly.id }, 'interval_mismatch'],
    ['another currency', { price_id: shop.monthlyEur.id }, 'currency_mismatch'],
    ['a one-time price', { price_id: shop.oneTime.id }, 'price_mode_mismatch'],
    ['an unknown price', { price_id: 'price_nope123' }, 'price_not_found'],
    ['nothing to do', {}, 'nothing_to_update'],
    ['resume false alone', { resume: false }, 'nothing_to_update'],
    ['bad proration', { price_id: shop.monthlyPremium.id, proration_behavior: 'sometimes' }, 'validation_failed'],
    ['malformed price', { price_id: 'monthly' }, 'validation_failed'],
    ['unknown field', { price_id: shop.monthlyPremium.id, quantity: 2 }, 'validation_failed'],
  ]
  for (const [label, body, code] of cases) {
    t.test(label, async (t) => { assertProblem(t, await endUserCall(shop, 'u4', 'POST', 'update-subscription', body), 400, code) })
  }
  t.test('cancel body', async (t) => {
    assertProblem(t, await endUserCall(shop, 'u4', 'POST', 'cancel-subscription', { at_period_end: 'no' }), 400, 'validation_failed')
    assertProblem(t, await endUserCall(shop, 'u4', 'POST', 'cancel-subscription', { now: true }), 400, 'validation_failed')
  })
  t.test('Stripe still has the original plan', async (t) => {
    const now = await shop.stripe.subscriptions.retrieve(sub.id)
    t.equal(now.items.data[0]?.price.id, shop.monthly.id)
    t.equal(now.cancel_at_period_end, false)
  })
})

t.test('cancel and update with no subscription are 404', async (t) => {
  const shop = await openShop(t)
  assertProblem(t, await endUserCall(shop, 'nobody', 'POST', 'cancel-subscription', {}), 404, 'no_subscription')
  assertProblem(t, await endUserCall(shop, 'nobody', 'POST', 'update-subscription', { resume: true }), 404, 'no_subscription')
  const noBody = await shop.app.inject({ method: 'POST', url: '/api/v1/payments/stripe/cancel-subscription', headers: shop.headers('nobody') })
  assertProblem(t, noBody, 404, 'no_subscription')
})

t.test('another end user, or the same user id in another project, sees and touches nothing', async (t) => {
  const shop = await openShop(t)
  const sub = await subscribe(shop, 'owner')
  await seedSubscription(shop, sub)
  await startCheckout(shop, 'owner', { price_id: shop.oneTime.id })

  t.same(await mine(shop, 'intruder'), null)
  t.same((await endUserCall(shop, 'intruder', 'GET', 'my-payments')).json().data, [])
  assertProblem(t, await endUserCall(shop, 'intruder', 'POST', 'cancel-subscription', {}), 404, 'no_subscription')
  assertProblem(t, await endUserCall(shop, 'intruder', 'POST', 'customer-portal', { return_url: 'https://x.example/a' }), 404, 'no_customer')

  const otherProject = await createProject(shop.app, shop.dev, 'Other shop')
  await configureStripe(shop.app, shop.dev, otherProject.id, { secret_key: shop.account.test.secret_key, publishable_key: shop.account.test.publishable_key })
  const sameIdElsewhere = bearer(endUserToken(otherProject.id, 'owner', otherProject.end_user_secret))
  const get = (path: string) => shop.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/${path}`, headers: sameIdElsewhere })
  t.same((await get('my-subscription')).json(), { data: null, active: [], duplicate_active: false })
  t.same((await get('my-payments')).json().data, [])
  const cancel = await shop.app.inject({ method: 'POST', url: '/api/v1/payments/stripe/cancel-subscription', headers: sameIdElsewhere, payload: {} })
  assertProblem(t, cancel, 404, 'no_subscription')
  // a token naming the first project but signed with the other project's secret does not verify
  const crossSigned = bearer(endUserToken(shop.project.id, 'owner', otherProject.end_user_secret))
  assertProblem(t, await shop.app.inject({ method: 'GET', url: '/api/v1/payments/stripe/my-subscription', headers: crossSigned }), 401, 'unauthorized')
  t.equal((await shop.stripe.subscriptions.retrieve(sub.id)).status, 'active', 'untouched')
})

t.test('my-payments paginates newest first without skipping or repeating', async (t) => {
  const shop = await openShop(t)
  const sessions: string[] = []
  for (let i = 0; i < 5; i++) {
    const res = await startCheckout(shop, 'payer', { price_id: shop.oneTime.id, quantity: i + 1 })
    sessions.push(res.json<{ session_id: string }>().session_id)
  }
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const res = await endUserCall(shop, 'payer', 'GET', `my-payments?limit=2${cursor ? `&starting_after=${cursor}` : ''}`)
    t.equal(res.statusCode, 200, res.body)
    const page = res.json<{ data: Array<{ id: string, stripe_checkout_session_id: string }>, has_more: boolean, next_cursor: string | null }>()
    seen.push(...page.data.map((p) => p.stripe_checkout_session_id))
    cursor = page.next_cursor
    t.equal(page.has_more, cursor !== null)
  } while (cursor)
  t.same(seen, [...sessions].reverse())
  assertProblem(t, await endUserCall(shop, 'payer', 'GET', 'my-payments?limit=0'), 400, 'validation_failed')
  assertProblem(t, await endUserCall(shop, 'payer', 'GET', 'my-payments?starting_after=not-a-uuid'), 400, 'validation_failed')
  const foreignCursor = await endUserCall(shop, 'someone', 'GET', `my-payments?starting_after=${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}`)
  t.same(foreignCursor.json().data, [], 'an unknown cursor yields nothing')
})

t.test('rate limits: per end user and per IP, 429 problem+json with Retry-After', async (t) => {
  const shop = await openShop(t, { rateLimits: { checkout: { userMax: 2, ipMax: 5, windowMs: 60_000 }, me: { userMax: 3, ipMax: 100, windowMs: 60_000 } } })
  for (let i = 0; i < 3; i++) t.equal((await endUserCall(shop, 'busy', 'GET', 'my-payments')).statusCode, 200)
  const limited = await endUserCall(shop, 'busy', 'GET', 'my-subscription')
  assertProblem(t, limited, 429, 'rate_limited')
  t.match(limited.headers['retry-after'], /^\d+$/)
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60)
  t.equal((await endUserCall(shop, 'calm', 'GET', 'my-payments')).statusCode, 200, 'another user is not limited')

  t.equal((await startCheckout(shop, 'buyer-a', { price_id: shop.oneTime.id })).statusCode, 201)
  t.equal((await startCheckout(shop, 'buyer-a', { price_id: shop.oneTime.id })).statusCode, 201)
  assertProblem(t, await startCheckout(shop, 'buyer-a', { price_id: shop.oneTime.id }), 429, 'rate_limited')
  t.equal((await startCheckout(shop, 'buyer-b', { price_id: shop.oneTime.id })).statusCode, 201)
  // failed tokens count in a bucket of their own (default ipMax ÷ 5 = 1): a guesser is refused, valid users go on
  const anonymous = () => shop.app.inject({ method: 'POST', url: '/api/v1/payments/stripe/checkout-session', payload: {} })
  assertProblem(t, await anonymous(), 401, 'unauthorized')
  const limitedIp = await anonymous()
  assertProblem(t, limitedIp, 429, 'rate_limited')
  t.ok(limitedIp.headers['retry-after'])
  t.equal((await startCheckout(shop, 'buyer-c', { price_id: shop.oneTime.id })).statusCode, 201, 'a valid user is not blocked by the guesser')
  // authenticated requests from one address: 5 per window (buyer-a 3, buyer-b 1, buyer-c 1), then refused
  assertProblem(t, await startCheckout(shop, 'buyer-d', { price_id: shop.oneTime.id }), 429, 'rate_limited')
})
