import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { assertProblem, configureStripe, createProject, newDeveloper, type Developer } from '../helpers/app.ts'
import { openShop, type Shop } from '../helpers/end-user.ts'
import { eventStatuses, fakeEvent, postEvent, signed, webhookHarness, type Harness } from '../helpers/webhooks.ts'

const base = (projectId: string) => `/api/v1/payments/stripe/projects/${projectId}`
const publicUrl = (projectId: string, query = '') => `/api/v1/public/projects/${projectId}/catalog${query}`

interface PlanBody {
  price_id: string, product_id: string, name: string | null, unit_amount: number | null, currency: string, interval: string, interval_count: number,
  trial_period_days: number | null, credits_per_period: number, trial_credits: number, rollover: boolean, active: boolean, price_active: boolean, mode: string
}
interface PackageBody { price_id: string, product_id: string, name: string | null, unit_amount: number | null, currency: string, credits: number, expires_in_days: number | null, active: boolean }
interface PublicBody {
  plans: Array<Record<string, unknown> & { price_id: string, name: string | null, unit_amount: number | null }>
  packages: Array<Record<string, unknown> & { price_id: string, name: string | null }>
  top_up: Record<string, unknown> | null
}

async function call (app: FastifyInstance, dev: Developer, method: 'GET' | 'PUT' | 'DELETE', url: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return app.inject({ method, url, headers: dev.headers, ...(payload ? { payload } : {}) })
}

const putPlan = (shop: Pick<Shop, 'app' | 'dev' | 'project'>, priceId: string, body: Record<string, unknown>) =>
  call(shop.app, shop.dev, 'PUT', `${base(shop.project.id)}/plans/${priceId}?test_mode=true`, body)
const putPackage = (shop: Pick<Shop, 'app' | 'dev' | 'project'>, priceId: string, body: Record<string, unknown>) =>
  call(shop.app, shop.dev, 'PUT', `${base(shop.project.id)}/packages/${priceId}?test_mode=true`, body)

async function catalogRows (app: FastifyInstance, projectId: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(app.db, sql`select (select count(*) from credit_plans where project_id = ${projectId})
    + (select count(*) from credit_packages where project_id = ${projectId}) + (select count(*) from credit_top_ups where project_id = ${projectId}) as n`)
  return Number(row?.n ?? 0)
}

t.test('plans', async (t) => {
  const shop = await openShop(t)

  t.test('PUT stores a recurring price with Stripe\'s facts and answers the plan', async (t) => {
    const res = await putPlan(shop, shop.monthly.id, { credits_per_period: 100, trial_credits: 10, rollover: true })
    t.equal(res.statusCode, 200, res.body)
    t.match(res.json<PlanBody>(), {
      price_id: shop.monthly.id, product_id: shop.monthly.product, name: 'Pro', unit_amount: 2000, currency: 'usd', interval: 'month', interval_count: 1,
      trial_period_days: null, credits_per_period: 100, trial_credits: 10, rollover: true, active: true, price_active: true, mode: 'test',
    })
  })

  t.test('the price\'s trial days and an own name are kept', async (t) => {
    const trialing = await shop.stripe.prices.create({ product: shop.monthly.product as string, unit_amount: 900, currency: 'usd', recurring: { interval: 'week', interval_count: 2, trial_period_days: 7 } })
    const res = await putPlan(shop, trialing.id, { credits_per_period: 5, name: 'Starter' })
    t.equal(res.statusCode, 200, res.body)
    t.match(res.json<PlanBody>(), { name: 'Starter', interval: 'week', interval_count: 2, trial_period_days: 7, trial_credits: 0, rollover: false })
  })

  t.test('GET lists active plans; DELETE retires; include_retired shows it; PUT re-activates', async (t) => {
    const yearly = shop.yearly.id
    t.equal((await putPlan(shop, yearly, { credits_per_period: 1200 })).statusCode, 200)
    const listed = async (query = '') => (await call(shop.app, shop.dev, 'GET', `${base(shop.project.id)}/plans?test_mode=true${query}`)).json<{ data: PlanBody[] }>().data
    t.ok((await listed()).some((p) => p.price_id === yearly))

    const del = await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/plans/${yearly}?test_mode=true`)
    t.equal(del.statusCode, 200, del.body)
    t.equal(del.json<PlanBody>().active, false)
    t.notOk((await listed()).some((p) => p.price_id === yearly), 'retired plans are not listed')
    t.match((await listed('&include_retired=true')).find((p) => p.price_id === yearly), { active: false, credits_per_period: 1200 })
    assertProblem(t, await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/plans/${yearly}?test_mode=true`), 404, 'not_found')

    const again = await putPlan(shop, yearly, { credits_per_period: 1300 })
    t.match(again.json<PlanBody>(), { active: true, credits_per_period: 1300 })
    t.ok((await listed()).some((p) => p.price_id === yearly))
  })

  t.test('DELETE of a price that is no plan is 404', async (t) => {
    assertProblem(t, await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/plans/price_nothere?test_mode=true`), 404, 'not_found')
  })

  t.test('the live catalog is another catalog', async (t) => {
    const res = await call(shop.app, shop.dev, 'GET', `${base(shop.project.id)}/plans?test_mode=false`)
    t.equal(res.statusCode, 200)
    t.same(res.json(), { data: [] })
  })
})

t.test('refused plans and packages store nothing', async (t) => {
  const shop = await openShop(t)
  const inactive = await shop.stripe.prices.create({ product: shop.monthly.product as string, unit_amount: 100, currency: 'usd', recurring: { interval: 'month' }, active: false })
  const inactiveOnce = await shop.stripe.prices.create({ product_data: { name: 'Old pack' }, unit_amount: 100, currency: 'usd', active: false })
  const cases: Array<[string, () => Promise<LightMyRequestResponse>, string]> = [
    ['a one-time price as a plan', () => putPlan(shop, shop.oneTime.id, { credits_per_period: 1 }), 'price_mode_mismatch'],
    ['a recurring price as a package', () => putPackage(shop, shop.monthly.id, { credits: 1 }), 'price_mode_mismatch'],
    ['an unknown price', () => putPlan(shop, 'price_doesnotexist', { credits_per_period: 1 }), 'price_not_found'],
    ['an unknown package price', () => putPackage(shop, 'price_doesnotexist', { credits: 1 }), 'price_not_found'],
    ['an inactive recurring price', () => putPlan(shop, inactive.id, { credits_per_period: 1 }), 'price_inactive'],
    ['an inactive one-time price', () => putPackage(shop, inactiveOnce.id, { credits: 1 }), 'price_inactive'],
    ['no credits', () => putPlan(shop, shop.monthly.id, {}), 'validation_failed'],
    ['zero credits', () => putPlan(shop, shop.monthly.id, { credits_per_period: 0 }), 'validation_failed'],
    ['too many credits', () => putPlan(shop, shop.monthly.id, { credits_per_period: 1_000_000_001 }), 'validation_failed'],
    ['fractional credits', () => putPackage(shop, shop.oneTime.id, { credits: 1.5 }), 'validation_failed'],
    ['credits as a string', () => putPackage(shop, shop.oneTime.id, { credits: '10' }), 'validation_failed'],
    ['negative trial credits', () => putPlan(shop, shop.monthly.id, { credits_per_period: 1, trial_credits: -1 }), 'validation_failed'],
    ['a long name', () => putPlan(shop, shop.monthly.id, { credits_per_period: 1, name: 'x'.repeat(201) }), 'validation_failed'],
    ['an unknown field', () => putPlan(shop, shop.monthly.id, { credits_per_period: 1, bonus: 5 }), 'validation_failed'],
    ['expiry beyond ten years', () => putPackage(shop, shop.oneTime.id, { credits: 1, expires_in_days: 3651 }), 'validation_failed'],
    ['a malformed price id', () => putPackage(shop, 'prod_123', { credits: 1 }), 'validation_failed'],
  ]
  for (const [name, send, code] of cases) {
    t.test(name, async (t) => { assertProblem(t, await send(), 400, code) })
  }
  t.test('nothing was stored', async (t) => { t.equal(await catalogRows(shop.app, shop.project.id), 0) })
})

t.test('packages', async (t) => {
  const shop = await openShop(t)

  t.test('PUT stores a one-time price; GET lists it; DELETE retires it', async (t) => {
    const res = await putPackage(shop, shop.oneTime.id, { credits: 1100, expires_in_days: 180 })
    t.equal(res.statusCode, 200, res.body)
    t.match(res.json<PackageBody>(), { price_id: shop.oneTime.id, name: 'Credits pack', unit_amount: 1099, currency: 'usd', credits: 1100, expires_in_days: 180, active: true })
    const list = await call(shop.app, shop.dev, 'GET', `${base(shop.project.id)}/packages?test_mode=true`)
    t.same(list.json<{ data: PackageBody[] }>().data.map((p) => p.price_id), [shop.oneTime.id])

    const del = await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/packages/${shop.oneTime.id}?test_mode=true`)
    t.equal(del.json<PackageBody>().active, false)
    t.same((await call(shop.app, shop.dev, 'GET', `${base(shop.project.id)}/packages?test_mode=true`)).json(), { data: [] })
    const all = await call(shop.app, shop.dev, 'GET', `${base(shop.project.id)}/packages?test_mode=true&include_retired=true`)
    t.equal(all.json<{ data: PackageBody[] }>().data.length, 1)
    assertProblem(t, await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/packages/${shop.oneTime.id}?test_mode=true`), 404, 'not_found')
  })

  t.test('a re-PUT replaces the settings and re-activates', async (t) => {
    const res = await putPackage(shop, shop.oneTime.id, { credits: 50, name: 'Small pack' })
    t.match(res.json<PackageBody>(), { credits: 50, expires_in_days: null, name: 'Small pack', active: true })
  })
})

t.test('top-up', async (t) => {
  const shop = await openShop(t)
  const url = `${base(shop.project.id)}/top-up?test_mode=true`

  t.test('GET before any PUT is 404', async (t) => {
    assertProblem(t, await call(shop.app, shop.dev, 'GET', url), 404, 'not_found')
  })

  t.test('PUT, GET, DELETE', async (t) => {
    const body = { currency: 'usd', credits_per_unit: 1, min_amount: 500, max_amount: 50000, expires_in_days: 365 }
    const put = await call(shop.app, shop.dev, 'PUT', url, body)
    t.equal(put.statusCode, 200, put.body)
    t.match(put.json(), { ...body, mode: 'test' })
    t.match((await call(shop.app, shop.dev, 'GET', url)).json(), body)
    const del = await call(shop.app, shop.dev, 'DELETE', url)
    t.equal(del.statusCode, 200)
    assertProblem(t, await call(shop.app, shop.dev, 'GET', url), 404, 'not_found')
    assertProblem(t, await call(shop.app, shop.dev, 'DELETE', url), 404, 'not_found')
    t.equal((await call(shop.app, shop.dev, 'PUT', url, { ...body, credits_per_unit: 2 })).statusCode, 200, 'PUT re-activates')
    t.match((await call(shop.app, shop.dev, 'GET', url)).json(), { credits_per_unit: 2 })
  })

  t.test('bad bodies are refused and change nothing', async (t) => {
    const ok = { currency: 'usd', credits_per_unit: 1, min_amount: 100, max_amount: 1000 }
    const bad: Array<Record<string, unknown>> = [
      { ...ok, currency: 'USD' }, { ...ok, currency: 'us' }, { ...ok, credits_per_unit: 0 }, { ...ok, min_amount: 0 },
      { ...ok, max_amount: 100_000_000 }, { ...ok, min_amount: 500, max_amount: 499 }, { ...ok, expires_in_days: 0 }, { ...ok, extra: true },
    ]
    for (const body of bad) assertProblem(t, await call(shop.app, shop.dev, 'PUT', url, body), 400, 'validation_failed')
    t.match((await call(shop.app, shop.dev, 'GET', url)).json(), { credits_per_unit: 2, min_amount: 500 })
  })
})

t.test('another developer\'s project is 404 and untouched', async (t) => {
  const shop = await openShop(t)
  t.equal((await putPlan(shop, shop.monthly.id, { credits_per_period: 1 })).statusCode, 200)
  const other = newDeveloper()
  const p = base(shop.project.id)
  const attempts: Array<['GET' | 'PUT' | 'DELETE', string, Record<string, unknown>?]> = [
    ['PUT', `${p}/plans/${shop.monthly.id}`, { credits_per_period: 999 }],
    ['GET', `${p}/plans`], ['DELETE', `${p}/plans/${shop.monthly.id}`],
    ['PUT', `${p}/packages/${shop.oneTime.id}`, { credits: 1 }], ['GET', `${p}/packages`], ['DELETE', `${p}/packages/${shop.oneTime.id}`],
    ['PUT', `${p}/top-up`, { currency: 'usd', credits_per_unit: 1, min_amount: 1, max_amount: 2 }], ['GET', `${p}/top-up`], ['DELETE', `${p}/top-up`],
  ]
  for (const [method, url, body] of attempts) assertProblem(t, await call(shop.app, other, method, `${url}?test_mode=true`, body), 404, 'not_found')
  const list = await call(shop.app, shop.dev, 'GET', `${p}/plans?test_mode=true`)
  t.match(list.json<{ data: PlanBody[] }>().data, [{ credits_per_period: 1, active: true }])
  t.equal(await catalogRows(shop.app, shop.project.id), 1)
})

t.test('without a developer token: 401', async (t) => {
  const shop = await openShop(t)
  const res = await shop.app.inject({ method: 'GET', url: `${base(shop.project.id)}/plans` })
  assertProblem(t, res, 401, 'unauthorized')
  const endUser = await shop.app.inject({ method: 'GET', url: `${base(shop.project.id)}/plans`, headers: shop.headers('user-1') })
  t.equal(endUser.statusCode, 401)
})

t.test('a project without a Stripe configuration cannot add prices', async (t) => {
  const shop = await openShop(t)
  const bare = await createProject(shop.app, shop.dev)
  assertProblem(t, await putPlan({ ...shop, project: bare }, shop.monthly.id, { credits_per_period: 1 }), 409, 'stripe_not_configured')
})

t.test('a price of another Stripe account is not found', async (t) => {
  const shop = await openShop(t)
  const second = await createProject(shop.app, shop.dev)
  const account = await shop.local.createAccount()
  await configureStripe(shop.app, shop.dev, second.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key })
  assertProblem(t, await putPlan({ ...shop, project: second }, shop.monthly.id, { credits_per_period: 1 }), 400, 'price_not_found')
})

t.test('public catalog', async (t) => {
  const shop = await openShop(t)
  await putPlan(shop, shop.monthly.id, { credits_per_period: 100, trial_credits: 10 })
  await putPlan(shop, shop.monthlyPremium.id, { credits_per_period: 500, name: 'Premium, monthly' })
  await putPlan(shop, shop.yearly.id, { credits_per_period: 1200 })
  await call(shop.app, shop.dev, 'DELETE', `${base(shop.project.id)}/plans/${shop.yearly.id}?test_mode=true`)
  await putPackage(shop, shop.oneTime.id, { credits: 1100, expires_in_days: 180 })
  await call(shop.app, shop.dev, 'PUT', `${base(shop.project.id)}/top-up?test_mode=true`, { currency: 'usd', credits_per_unit: 1, min_amount: 500, max_amount: 10000 })

  t.test('everything purchasable, without auth, cacheable, nothing secret', async (t) => {
    const res = await shop.app.inject({ method: 'GET', url: publicUrl(shop.project.id, '?test_mode=true') })
    t.equal(res.statusCode, 200, res.body)
    t.equal(res.headers['cache-control'], 'public, max-age=60')
    const body = res.json<PublicBody>()
    t.same(body.plans, [
      { price_id: shop.monthly.id, product_id: shop.monthly.product, name: 'Pro', unit_amount: 2000, currency: 'usd', interval: 'month', interval_count: 1, trial_period_days: null, credits_per_period: 100 },
      { price_id: shop.monthlyPremium.id, product_id: shop.monthlyPremium.product, name: 'Premium, monthly', unit_amount: 5000, currency: 'usd', interval: 'month', interval_count: 1, trial_period_days: null, credits_per_period: 500 },
    ], 'retired plans are not shown; trial credits and settings are not public')
    t.same(body.packages, [{ price_id: shop.oneTime.id, product_id: shop.oneTime.product, name: 'Credits pack', unit_amount: 1099, currency: 'usd', credits: 1100, expires_in_days: 180 }])
    t.same(body.top_up, { currency: 'usd', credits_per_unit: 1, min_amount: 500, max_amount: 10000, expires_in_days: null })
    for (const secret of [shop.account.test.secret_key, shop.project.end_user_secret, shop.dev.id, 'sk_', 'whsec_']) t.notOk(res.body.includes(secret), 'no secret or owner')
  })

  t.test('type=subscription shows plans only; type=one_time packages and the top-up', async (t) => {
    const subs = (await shop.app.inject({ method: 'GET', url: publicUrl(shop.project.id, '?test_mode=true&type=subscription') })).json<PublicBody>()
    t.equal(subs.plans.length, 2)
    t.same(subs.packages, [])
    t.equal(subs.top_up, null)
    const once = (await shop.app.inject({ method: 'GET', url: publicUrl(shop.project.id, '?type=one_time') })).json<PublicBody>()
    t.same(once.plans, [])
    t.equal(once.packages.length, 1)
    t.not(once.top_up, null)
  })

  t.test('the live catalog is empty; an unknown type is 400', async (t) => {
    const live = await shop.app.inject({ method: 'GET', url: publicUrl(shop.project.id, '?test_mode=false') })
    t.same(live.json(), { plans: [], packages: [], top_up: null })
    assertProblem(t, await shop.app.inject({ method: 'GET', url: publicUrl(shop.project.id, '?type=recurring') }), 400, 'validation_failed')
  })

  t.test('an unknown project is a 404 problem, not cached', async (t) => {
    const res = await shop.app.inject({ method: 'GET', url: publicUrl('00000000-0000-4000-8000-000000000000') })
    assertProblem(t, res, 404, 'not_found')
    t.equal(res.headers['cache-control'], undefined)
    assertProblem(t, await shop.app.inject({ method: 'GET', url: publicUrl('not-a-uuid') }), 400, 'validation_failed')
  })
})

t.test('price.updated and product.updated refresh the catalog', async (t) => {
  const h: Harness = await webhookHarness(t)
  const product = await h.stripe.products.create({ name: 'Pro' })
  const monthly = await h.stripe.prices.create({ product: product.id, unit_amount: 2000, currency: 'usd', recurring: { interval: 'month' } })
  const pack = await h.stripe.prices.create({ product: product.id, unit_amount: 999, currency: 'usd' })
  t.equal((await putPlan(h, monthly.id, { credits_per_period: 100 })).statusCode, 200)
  t.equal((await putPackage(h, pack.id, { credits: 1000 })).statusCode, 200)
  const catalog = async () => (await h.app.inject({ method: 'GET', url: publicUrl(h.project.id) })).json<PublicBody>()

  t.test('a product renamed at Stripe is renamed in the catalog', async (t) => {
    await h.stripe.products.update(product.id, { name: 'Pro Plus' })
    await h.local.idle()
    const body = await catalog()
    t.equal(body.plans[0]?.name, 'Pro Plus')
    t.equal(body.packages[0]?.name, 'Pro Plus')
    t.ok((await eventStatuses(h.app, h.project.id)).some((e) => e.type === 'product.updated' && e.status === 'processed'))
  })

  t.test('a price deactivated at Stripe leaves the public catalog, and comes back', async (t) => {
    await h.stripe.prices.update(monthly.id, { active: false })
    await h.local.idle()
    t.same((await catalog()).plans, [])
    const list = await call(h.app, h.dev, 'GET', `${base(h.project.id)}/plans?test_mode=true`)
    t.match(list.json<{ data: PlanBody[] }>().data, [{ price_id: monthly.id, active: true, price_active: false }], 'the developer still sees it')
    await h.stripe.prices.update(monthly.id, { active: true })
    await h.local.idle()
    t.equal((await catalog()).plans.length, 1)
  })

  t.test('a signed price.updated carries new amounts; an older one changes nothing', async (t) => {
    const now = Math.floor(Date.now() / 1000)
    const object = (amount: number) => ({ ...monthly, active: true, unit_amount: amount, currency: 'usd', recurring: { ...monthly.recurring, interval: 'year', interval_count: 1, trial_period_days: 14 } })
    const newer = JSON.stringify(fakeEvent('price.updated', object(2500), { created: now + 5 }))
    t.equal((await postEvent(h.app, h.project.id, newer, signed(newer, h.secret))).statusCode, 200)
    t.match((await catalog()).plans[0], { unit_amount: 2500, interval: 'year', trial_period_days: 14 })
    const older = JSON.stringify(fakeEvent('price.updated', object(1), { created: now - 3600 }))
    t.equal((await postEvent(h.app, h.project.id, older, signed(older, h.secret))).statusCode, 200)
    t.match((await catalog()).plans[0], { unit_amount: 2500 }, 'an older event does not override newer data')
  })

  t.test('a price.updated without the fields it reads is refused', async (t) => {
    const payload = JSON.stringify(fakeEvent('price.updated', { object: 'price', id: monthly.id }))
    assertProblem(t, await postEvent(h.app, h.project.id, payload, signed(payload, h.secret)), 400, 'malformed_event_object')
  })

  t.test('another project\'s catalog is not touched', async (t) => {
    const other = await webhookHarness(t, { local: h.local })
    const payload = JSON.stringify(fakeEvent('product.updated', { ...product, name: 'Hijacked' }, { created: Math.floor(Date.now() / 1000) + 60 }))
    t.equal((await postEvent(other.app, other.project.id, payload, signed(payload, other.secret))).statusCode, 200)
    t.equal((await catalog()).plans[0]?.name, 'Pro Plus')
  })
})
