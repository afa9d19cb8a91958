import t from 'tap'
import { assertProblem, buildTestApp, createProject, newDeveloper } from '../helpers/app.ts'
import { allPages, get, insertSubscription, insertTransaction, type Page } from '../helpers/dashboard.ts'

interface TxOut { id: string, project_id: string, project_name: string, mode: string, status: string, end_user_id: string | null, amount: number, currency: string, created_at: string }
interface SubOut { id: string, project_id: string, project_name: string, status: string, stripe_customer_id: string, end_user_id: string | null }

const TX = '/api/v1/payments/transactions'
const SUBS = '/api/v1/payments/subscriptions'

t.test('isolation: a developer never sees another developer\'s rows in any list, filter or per-project route', async (t) => {
  const app = await buildTestApp(t)
  const alice = newDeveloper()
  const bob = newDeveloper()
  const a1 = await createProject(app, alice, 'Alice One')
  const a2 = await createProject(app, alice, 'Alice Two')
  const b1 = await createProject(app, bob, 'Bob One')
  const aliceTx = [
    await insertTransaction(app, { developerId: alice.id, projectId: a1.id, endUserId: 'shared-user', stripeCustomerId: 'cus_shared' }),
    await insertTransaction(app, { developerId: alice.id, projectId: a2.id, status: 'failed' }),
  ]
  const bobTx = await insertTransaction(app, { developerId: bob.id, projectId: b1.id, endUserId: 'shared-user', stripeCustomerId: 'cus_shared' })
  await insertSubscription(app, { developerId: alice.id, projectId: a1.id, stripeCustomerId: 'cus_shared' })
  const bobSub = await insertSubscription(app, { developerId: bob.id, projectId: b1.id, stripeCustomerId: 'cus_shared' })

  const mine = await allPages<TxOut>(app, alice, TX, {})
  t.same(mine.map((r) => r.id).sort(), [...aliceTx].sort(), 'alice sees exactly her two payments')
  t.same(new Set(mine.map((r) => r.project_name)), new Set(['Alice One', 'Alice Two']), 'each row names its project')
  t.same((await allPages<TxOut>(app, bob, TX, {})).map((r) => r.id), [bobTx])
  for (const customer of ['cus_shared', 'shared-user']) {
    const rows = await allPages<TxOut>(app, alice, TX, { customer })
    t.same(rows.map((r) => r.id), [aliceTx[0]], `customer=${customer} stays within alice's rows`)
  }
  const subs = await allPages<SubOut>(app, alice, SUBS, { customer: 'cus_shared' })
  t.equal(subs.length, 1)
  t.not(subs[0]?.id, bobSub)

  assertProblem(t, await get(app, alice, TX, { project_id: b1.id }), 404, 'not_found')
  assertProblem(t, await get(app, alice, SUBS, { project_id: b1.id }), 404, 'not_found')
  assertProblem(t, await get(app, alice, `/api/v1/payments/stripe/projects/${b1.id}/payments`), 404, 'not_found')
  assertProblem(t, await get(app, alice, `/api/v1/payments/stripe/projects/${b1.id}/subscriptions`), 404, 'not_found')
  assertProblem(t, await get(app, alice, '/api/v1/payments/stats', { project_id: b1.id }), 404, 'not_found')
  // Bob's row id as a cursor yields nothing of Bob's (and nothing at all).
  const viaCursor = (await get(app, alice, TX, { starting_after: bobTx })).json<Page<TxOut>>()
  t.same(viaCursor.data, [])
  t.equal((await app.inject({ method: 'GET', url: TX })).statusCode, 401, 'no token is 401')
})

t.test('filters combine: test_mode, project_id, status, customer, created[gte]/created[lte]; per-project routes', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const p1 = await createProject(app, dev, 'P1')
  const p2 = await createProject(app, dev, 'P2')
  const ids = {
    old: await insertTransaction(app, { developerId: dev.id, projectId: p1.id, createdAt: '2024-01-10T10:00:00.000001Z', endUserId: 'u1', stripeCustomerId: 'cus_u1' }),
    mid: await insertTransaction(app, { developerId: dev.id, projectId: p1.id, createdAt: '2024-02-10T10:00:00Z', status: 'failed', endUserId: 'u1', stripeCustomerId: 'cus_u1' }),
    newer: await insertTransaction(app, { developerId: dev.id, projectId: p2.id, createdAt: '2024-03-10T10:00:00Z', endUserId: 'u2', stripeCustomerId: 'cus_u2' }),
    live: await insertTransaction(app, { developerId: dev.id, projectId: p1.id, createdAt: '2024-02-11T10:00:00Z', mode: 'live', endUserId: 'u1', stripeCustomerId: 'cus_u1' }),
  }
  const q = async (query: Record<string, string | number | boolean>) => (await allPages<TxOut>(app, dev, TX, query)).map((r) => r.id)
  t.same(await q({}), [ids.newer, ids.mid, ids.old], 'test mode by default, newest first')
  t.same(await q({ test_mode: false }), [ids.live])
  t.same(await q({ project_id: p1.id }), [ids.mid, ids.old])
  t.same(await q({ status: 'failed' }), [ids.mid])
  t.same(await q({ status: 'succeeded', project_id: p1.id }), [ids.old])
  t.same(await q({ customer: 'u1' }), [ids.mid, ids.old], 'by end-user id')
  t.same(await q({ customer: 'cus_u2' }), [ids.newer], 'by Stripe customer id')
  t.same(await q({ 'created[gte]': '2024-02-10T10:00:00Z' }), [ids.newer, ids.mid], 'gte is inclusive')
  t.same(await q({ 'created[lte]': '2024-02-10T10:00:00Z' }), [ids.mid, ids.old], 'lte is inclusive')
  t.same(await q({ 'created[lte]': '2024-01-10T10:00:00Z' }), [], 'microseconds count: 10:00:00.000001 is after 10:00:00')
  t.same(await q({ 'created[gte]': '2024-01-01T00:00:00Z', 'created[lte]': '2024-02-28T00:00:00Z', customer: 'u1', status: 'succeeded' }), [ids.old])
  t.same(await q({ limit: 1 }), [ids.newer, ids.mid, ids.old], 'limit 1 pages through every row')

  const perProject = (await allPages<TxOut>(app, dev, `/api/v1/payments/stripe/projects/${p1.id}/payments`, {})).map((r) => r.id)
  t.same(perProject, [ids.mid, ids.old])
  const perProjectFailed = (await allPages<TxOut>(app, dev, `/api/v1/payments/stripe/projects/${p1.id}/payments`, { status: 'failed' })).map((r) => r.id)
  t.same(perProjectFailed, [ids.mid])

  const s1 = await insertSubscription(app, { developerId: dev.id, projectId: p1.id, status: 'past_due', endUserId: 'u1', createdAt: '2024-01-01T00:00:00Z' })
  const s2 = await insertSubscription(app, { developerId: dev.id, projectId: p2.id, status: 'active', createdAt: '2024-01-02T00:00:00Z' })
  const subs = async (url: string, query: Record<string, string | number | boolean> = {}) => (await allPages<SubOut>(app, dev, url, query)).map((r) => r.id)
  t.same(await subs(SUBS), [s2, s1])
  t.same(await subs(SUBS, { status: 'past_due' }), [s1])
  t.same(await subs(SUBS, { customer: 'u1' }), [s1])
  t.same(await subs(`/api/v1/payments/stripe/projects/${p2.id}/subscriptions`), [s2])
  const row = (await get(app, dev, SUBS, { project_id: p1.id })).json<Page<SubOut & Record<string, unknown>>>().data[0]
  t.match(row, { id: s1, project_id: p1.id, project_name: 'P1', mode: 'test', status: 'past_due', end_user_id: 'u1', amount: 2000, currency: 'usd', interval: 'month', cancel_at_period_end: false })
})

t.test('bad input is a 400 problem', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const bad: Array<[string, Record<string, string>]> = [
    [TX, { status: 'paid' }], [SUBS, { status: 'succeeded' }], [TX, { limit: '0' }], [TX, { limit: '101' }],
    [TX, { 'created[gte]': 'yesterday' }], [TX, { project_id: 'nope' }], [TX, { starting_after: 'x' }], [TX, { 'created[foo]': '1' }],
  ]
  for (const [url, query] of bad) {
    const res = await get(app, dev, url, query)
    t.equal(res.statusCode, 400, `${url} ${JSON.stringify(query)}`)
    t.match(res.headers['content-type'], /problem\+json/)
  }
  assertProblem(t, await get(app, dev, TX, { project_id: '00000000-0000-4000-8000-000000000000' }), 404, 'not_found')
})

t.test('pagination: no row skipped or repeated while rows are inserted between pages (ties in created_at included)', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const p = await createProject(app, dev)
  const original: string[] = []
  // 60 rows on 12 distinct instants (5 rows each: ties broken by id), microseconds apart.
  for (let i = 0; i < 60; i++) {
    original.push(await insertTransaction(app, { developerId: dev.id, projectId: p.id, createdAt: `2024-06-01T12:00:00.0000${10 + Math.floor(i / 5)}Z` }))
  }
  let inserted = 0
  const seen = await allPages<TxOut>(app, dev, TX, { limit: 7 }, async (page) => {
    // Newer rows (land before the cursor), rows at the very instant of existing rows, and older rows (after it).
    await insertTransaction(app, { developerId: dev.id, projectId: p.id })
    await insertTransaction(app, { developerId: dev.id, projectId: p.id, createdAt: `2024-06-01T12:00:00.0000${10 + (page % 12)}Z` })
    await insertTransaction(app, { developerId: dev.id, projectId: p.id, createdAt: '2023-01-01T00:00:00Z' })
    inserted += 3
  })
  const ids = seen.map((r) => r.id)
  t.equal(new Set(ids).size, ids.length, 'no row repeated')
  for (const id of original) t.ok(ids.includes(id), `row ${id} seen`)
  t.ok(inserted > 0)
  // Descending (created_at, id) across all pages (created_at is shown to the millisecond; the order uses microseconds).
  t.ok(seen.every((r, i) => i === 0 || (seen[i - 1]?.created_at ?? '') >= r.created_at), 'newest first across pages')
})
