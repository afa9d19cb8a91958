import t from 'tap'
import type Stripe from 'stripe'
import { assertProblem, bearer, configureStripe, countRows, createProject, endUserToken, newDeveloper } from '../helpers/app.ts'
import { URLS, endUserCall, localAction, openShop, startCheckout } from '../helpers/end-user.ts'

interface SessionOut { session_id: string, url: string, mode: string, expires_at: string }

t.test('a subscription checkout: one customer with our metadata, a hosted session linked back to the end user', async (t) => {
  const shop = await openShop(t)
  const res = await startCheckout(shop, 'user-1', { price_id: shop.monthly.id })
  t.equal(res.statusCode, 201, res.body)
  const out = res.json<SessionOut>()
  t.match(out, { session_id: /^cs_test_/, url: /^http/, mode: 'subscription', expires_at: /^\d{4}-\d\d-\d\dT/ })
  t.same(Object.keys(out).sort(), ['expires_at', 'mode', 'session_id', 'url'])

  const session = await shop.stripe.checkout.sessions.retrieve(out.session_id)
  t.equal(session.client_reference_id, 'user-1')
  t.same(session.metadata, { project_id: shop.project.id, end_user_id: 'user-1', mode: 'test' })
  t.equal(session.success_url, URLS.success_url)
  t.type(session.customer, 'string')
  const customer = await shop.stripe.customers.retrieve(session.customer as string) as Stripe.Customer
  t.same(customer.metadata, { project_id: shop.project.id, end_user_id: 'user-1', mode: 'test' })
  t.equal(await countRows(shop.app, 'customers', { projectId: shop.project.id }), 1)
  t.equal(await countRows(shop.app, 'transactions', { projectId: shop.project.id }), 0, 'no pending row for a subscription')

  // subscription_data.metadata lands on the subscription once paid
  await localAction(shop.local, `/checkout/sessions/${out.session_id}/complete`)
  const done = await shop.stripe.checkout.sessions.retrieve(out.session_id)
  const sub = await shop.stripe.subscriptions.retrieve(done.subscription as string)
  t.same(sub.metadata, { project_id: shop.project.id, end_user_id: 'user-1', mode: 'test' })
  t.equal(sub.customer, session.customer, 'the checkout used our customer')

  const again = await startCheckout(shop, 'user-1', { price_id: shop.oneTime.id })
  t.equal(again.statusCode, 201, 'a one-time purchase beside a subscription is fine')
  const second = await shop.stripe.checkout.sessions.retrieve(again.json<SessionOut>().session_id)
  t.equal(second.customer, session.customer, 'the same customer is reused')
})

t.test('a trial is passed to Stripe and the subscription starts trialing', async (t) => {
  const shop = await openShop(t)
  const res = await startCheckout(shop, 'trial-user', { price_id: shop.monthly.id, trial_period_days: 14, allow_promotion_codes: true })
  t.equal(res.statusCode, 201, res.body)
  const id = res.json<SessionOut>().session_id
  const session = await shop.stripe.checkout.sessions.retrieve(id)
  t.equal(session.allow_promotion_codes, true)
  await localAction(shop.local, `/checkout/sessions/${id}/complete`)
  const sub = await shop.stripe.subscriptions.retrieve((await shop.stripe.checkout.sessions.retrieve(id)).subscription as string)
  t.equal(sub.status, 'trialing')
  t.ok(sub.trial_end && sub.trial_end - sub.created === 14 * 86_400)
})

t.test('a one-time purchase: mode inferred, a pending transaction priced by Stripe, shown in my-payments', async (t) => {
  const shop = await openShop(t)
  const res = await startCheckout(shop, 'buyer', { price_id: shop.oneTime.id, quantity: 3 })
  t.equal(res.statusCode, 201, res.body)
  const out = res.json<SessionOut>()
  t.equal(out.mode, 'payment')
  const session = await shop.stripe.checkout.sessions.retrieve(out.session_id)
  t.equal(session.amount_total, 3297)
  const payments = await endUserCall(shop, 'buyer', 'GET', 'my-payments')
  t.equal(payments.statusCode, 200)
  const [row, ...rest] = payments.json<{ data: Array<Record<string, unknown>> }>().data
  t.equal(rest.length, 0)
  t.match(row, {
    project_id: shop.project.id, mode: 'test', end_user_id: 'buyer', kind: 'one_time', status: 'pending',
    amount: 3297, amount_refunded: 0, currency: 'usd', description: 'Credits pack', stripe_checkout_session_id: out.session_id,
    stripe_payment_intent_id: null, succeeded_at: null,
  })
  t.equal(await countRows(shop.app, 'transactions', { projectId: shop.project.id }), 1)
})

t.test('the same Idempotency-Key returns the same session and records one pending row', async (t) => {
  const shop = await openShop(t)
  const send = () => shop.app.inject({
    method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: { ...shop.headers('u'), 'idempotency-key': 'order-42' },
    payload: { ...URLS, price_id: shop.oneTime.id },
  })
  const [a, b] = [await send(), await send()]
  t.equal(a.statusCode, 201)
  t.equal(b.json<SessionOut>().session_id, a.json<SessionOut>().session_id)
  t.equal(await countRows(shop.app, 'transactions', { projectId: shop.project.id }), 1)
  const other = await shop.app.inject({
    method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: { ...shop.headers('u'), 'idempotency-key': 'order-42' },
    payload: { ...URLS, price_id: shop.oneTime.id, quantity: 2 },
  })
  assertProblem(t, other, 409, 'idempotency_key_reused')
})

t.test('concurrent first checkouts of one end user create exactly one Stripe customer and one row', async (t) => {
  const shop = await openShop(t)
  const results = await Promise.all(Array.from({ length: 6 }, () => startCheckout(shop, 'racer', { price_id: shop.oneTime.id })))
  t.same(results.map((r) => r.statusCode), [201, 201, 201, 201, 201, 201], results.map((r) => r.body).join('\n'))
  const customers = await shop.stripe.customers.list({ limit: 100 })
  t.equal(customers.data.length, 1, 'one customer at Stripe')
  t.equal(await countRows(shop.app, 'customers', { projectId: shop.project.id }), 1, 'one customer row')
  const sessions = await Promise.all(results.map((r) => shop.stripe.checkout.sessions.retrieve(r.json<SessionOut>().session_id)))
  t.same(new Set(sessions.map((s) => s.customer)), new Set([customers.data[0]?.id]))
  // another end user of the same project gets their own
  t.equal((await startCheckout(shop, 'other', { price_id: shop.oneTime.id })).statusCode, 201)
  t.equal((await shop.stripe.customers.list({ limit: 100 })).data.length, 2)
})

t.test('a second subscription while one is active is refused, even before its webhook arrives', async (t) => {
  const shop = await openShop(t)
  const first = await startCheckout(shop, 'subscriber', { price_id: shop.monthly.id })
  await localAction(shop.local, `/checkout/sessions/${first.json<SessionOut>().session_id}/complete`)
  const second = await startCheckout(shop, 'subscriber', { price_id: shop.monthlyPremium.id })
  assertProblem(t, second, 409, 'subscription_exists')
  t.match(second.json(), { update_url: '/api/v1/payments/stripe/update-subscription', stripe_subscription_id: /^sub_/ })
})

t.test('every validation error is a 400 problem and creates nothing', async (t) => {
  const shop = await openShop(t)
  const inactive = await shop.stripe.prices.create({ product_data: { name: 'Old' }, unit_amount: 500, currency: 'usd' })
  await shop.stripe.prices.update(inactive.id, { active: false })
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['unknown price', { price_id: 'price_doesnotexist1' }, 'price_not_found'],
    ['inactive price', { price_id: inactive.id }, 'price_inactive'],
    ['one-time price in subscription mode', { price_id: shop.oneTime.id, mode: 'subscription' }, 'price_mode_mismatch'],
    ['recurring price in payment mode', { price_id: shop.monthly.id, mode: 'payment' }, 'price_mode_mismatch'],
    ['trial on a one-time purchase', { price_id: shop.oneTime.id, trial_period_days: 7 }, 'trial_requires_subscription'],
    ['malformed price id', { price_id: 'prod_123' }, 'validation_failed'],
    ['over-long price id', { price_id: `price_${'a'.repeat(260)}` }, 'validation_failed'],
    ['relative success_url', { price_id: shop.monthly.id, success_url: '/done' }, 'validation_failed'],
    ['ftp cancel_url', { price_id: shop.monthly.id, cancel_url: 'ftp://shop.example/x' }, 'validation_failed'],
    ['javascript url', { price_id: shop.monthly.id, success_url: 'javascript:alert(1)' }, 'validation_failed'],
    ['unparseable url', { price_id: shop.monthly.id, success_url: 'http://exa mple.com' }, 'validation_failed'],
    ['bad port url', { price_id: shop.monthly.id, success_url: 'https://shop.example:99999/x' }, 'invalid_url'],
    ['over-long url', { price_id: shop.monthly.id, success_url: `https://shop.example/${'a'.repeat(2040)}` }, 'validation_failed'],
    ['quantity 0', { price_id: shop.oneTime.id, quantity: 0 }, 'validation_failed'],
    ['quantity 1001', { price_id: shop.oneTime.id, quantity: 1001 }, 'validation_failed'],
    ['fractional quantity', { price_id: shop.oneTime.id, quantity: 1.5 }, 'validation_failed'],
    ['trial of 731 days', { price_id: shop.monthly.id, trial_period_days: 731 }, 'validation_failed'],
    ['unknown mode', { price_id: shop.monthly.id, mode: 'setup' }, 'validation_failed'],
    ['client-chosen amount', { price_id: shop.oneTime.id, amount: 1 }, 'validation_failed'],
  ]
  // a user per case: the per-user limit of 10 checkouts a minute counts refused requests too
  for (const [i, [label, body, code]] of cases.entries()) {
    t.test(label, async (t) => { assertProblem(t, await startCheckout(shop, `v-user-${i}`, body), 400, code) })
  }
  t.test('missing success_url', async (t) => {
    const res = await shop.app.inject({ method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: shop.headers('v-user'), payload: { price_id: shop.monthly.id, cancel_url: URLS.cancel_url } })
    assertProblem(t, res, 400, 'validation_failed')
  })
  t.test('bad test_mode', async (t) => { assertProblem(t, await startCheckout(shop, 'v-user', { price_id: shop.monthly.id }, '?test_mode=maybe'), 400, 'validation_failed') })
  t.test('nothing was written', async (t) => {
    t.equal(await countRows(shop.app, 'transactions', { projectId: shop.project.id }), 0)
    t.equal(await countRows(shop.app, 'subscriptions', { projectId: shop.project.id }), 0)
  })
})

t.test('a mode without an active configuration is 409 stripe_not_configured', async (t) => {
  const shop = await openShop(t)
  assertProblem(t, await startCheckout(shop, 'u', { price_id: shop.monthly.id }, '?test_mode=false'), 409, 'stripe_not_configured')
  const off = await shop.app.inject({ method: 'DELETE', url: `/api/v1/payments/stripe/projects/${shop.project.id}/config?test_mode=true`, headers: shop.dev.headers })
  t.equal(off.statusCode, 200)
  assertProblem(t, await startCheckout(shop, 'u', { price_id: shop.monthly.id }), 409, 'stripe_not_configured')
  assertProblem(t, await endUserCall(shop, 'u', 'POST', 'customer-portal', { return_url: 'https://shop.example/account' }), 409, 'stripe_not_configured')
  t.equal(await countRows(shop.app, 'customers', { projectId: shop.project.id }), 0)
})

t.test('Stripe failures become problems naming Stripe, never a 500, and leave no row', async (t) => {
  t.test('Stripe unreachable: 502', async (t) => {
    const shop = await openShop(t, { env: { STRIPE_API_BASE: 'http://127.0.0.1:9' } })
    const res = await startCheckout(shop, 'u', { price_id: 'price_abc123' })
    assertProblem(t, res, 502, 'stripe_unreachable')
    t.notOk(res.body.includes('sk_test'), 'no key in the answer')
    t.equal(await countRows(shop.app, 'transactions', { projectId: shop.project.id }), 0)
  })
  t.test('a revoked key: 502 stripe_authentication_failed', async (t) => {
    const shop = await openShop(t)
    const dev = newDeveloper()
    const project = await createProject(shop.app, dev)
    await configureStripe(shop.app, dev, project.id, { secret_key: 'sk_test_doesnotexist0000', publishable_key: 'pk_test_doesnotexist0000' })
    const res = await shop.app.inject({
      method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: bearer(endUserToken(project.id, 'u', project.end_user_secret)),
      payload: { ...URLS, price_id: shop.monthly.id },
    })
    assertProblem(t, res, 502, 'stripe_authentication_failed')
    t.equal(await countRows(shop.app, 'customers', { projectId: project.id }), 0)
  })
  t.test('a price of the other mode: 400 naming Stripe\'s code', async (t) => {
    const shop = await openShop(t)
    const live = await import('../../src/platform/stripe/client.ts').then((m) => m.createStripeClient(shop.account.live.secret_key, { apiBase: shop.local.url }))
    const livePrice = await live.prices.create({ product_data: { name: 'Live' }, unit_amount: 100, currency: 'usd' })
    const res = await startCheckout(shop, 'u', { price_id: livePrice.id })
    assertProblem(t, res, 400, 'price_not_found')
    t.equal(res.json().stripe_code, 'resource_missing')
  })
})

t.test('the customer portal: 404 before any checkout, then a Stripe portal URL', async (t) => {
  const shop = await openShop(t)
  assertProblem(t, await endUserCall(shop, 'portal-user', 'POST', 'customer-portal', { return_url: 'https://shop.example/account' }), 404, 'no_customer')
  await startCheckout(shop, 'portal-user', { price_id: shop.monthly.id })
  const res = await endUserCall(shop, 'portal-user', 'POST', 'customer-portal', { return_url: 'https://shop.example/account' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json(), { url: /billing-portal\/bps_/ })
  t.same(Object.keys(res.json()), ['url'])
  assertProblem(t, await endUserCall(shop, 'portal-user', 'POST', 'customer-portal', { return_url: 'mailto:x@example.com' }), 400, 'validation_failed')
  assertProblem(t, await endUserCall(shop, 'portal-user', 'POST', 'customer-portal', {}), 400, 'validation_failed')
  assertProblem(t, await endUserCall(shop, 'someone-else', 'POST', 'customer-portal', { return_url: 'https://shop.example/account' }), 404, 'no_customer')
})

t.test('end-user routes need a valid end-user token of that project', async (t) => {
  const shop = await openShop(t)
  const paths: Array<['GET' | 'POST', string]> = [
    ['POST', 'checkout-session'], ['GET', 'my-subscription'], ['GET', 'my-payments'], ['POST', 'customer-portal'],
    ['POST', 'cancel-subscription'], ['POST', 'update-subscription'],
  ]
  const forged = bearer(endUserToken(shop.project.id, 'u', 'eus_not-the-secret'))
  const developer = shop.dev.headers
  const wrongRole = shop.headers('u', { role: 'developer' })
  for (const [method, path] of paths) {
    for (const headers of [{}, forged, developer, wrongRole]) {
      assertProblem(t, await shop.app.inject({ method, url: `/api/v1/payments/stripe/${path}`, headers, payload: {} }), 401, 'unauthorized')
    }
  }
})
