import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { assertProblem, bearer, buildTestApp, createProject, developerToken, newDeveloper, secondConnection, TEST_DATABASE_URL } from '../helpers/app.ts'
import { balanceOf, createApiKey, creditsCall } from '../helpers/credits.ts'

t.test('a project API key: shown once, stored as a hash, reaches only its project and mode, revoked on every instance at once, never logged', async (t) => {
  const logs: string[] = []
  const app = await buildTestApp(t, { logs })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const other = await createProject(app, dev, 'Other')
  const shop = { app, dev, project }
  const test = await createApiKey(shop)
  const live = await createApiKey(shop, 'live')
  const elsewhere = await createApiKey(shop, 'test', other.id)
  t.match(test.key, /^psk_test_[A-Za-z0-9_-]{43}$/)
  t.match(live.key, /^psk_live_/)

  const listed = await app.inject({ method: 'GET', url: `/api/v1/projects/${project.id}/api-keys`, headers: dev.headers })
  t.equal(listed.statusCode, 200)
  t.notOk(listed.body.includes(test.key), 'the list never shows a key')
  t.equal(listed.json<{ data: unknown[] }>().data.length, 2)
  const [stored] = await queryRows<{ hash: string }>(app.db, sql`select hash from project_api_keys where id = ${test.id}`)
  t.not(stored?.hash, test.key)
  t.notOk(JSON.stringify(await queryRows(app.db, sql`select * from project_api_keys`)).includes(test.key), 'the database holds no key')

  // Seed credits in each project and mode with the developer token, then probe across them with keys.
  for (const [projectId, mode] of [[project.id, true], [project.id, false], [other.id, true]] as const) {
    const res = await app.inject({
      method: 'POST', url: `/api/v1/credits/adjustments?project_id=${projectId}&test_mode=${mode}`, headers: { ...dev.headers, 'idempotency-key': `seed-${projectId}-${mode}` },
      payload: { end_user_id: 'u', amount: mode ? 10 : 20, bucket: 'purchased', reason: 'seed' },
    })
    t.equal(res.statusCode, 200, res.body)
  }
  t.equal((await balanceOf(shop, test.key, 'u')).total, 10, 'the test key sees test credits')
  t.equal((await balanceOf(shop, live.key, 'u')).total, 20, 'the live key sees live credits')
  assertProblem(t, await creditsCall(shop, test.key, 'GET', `/balances/u?test_mode=false`), 404, 'not_found')
  assertProblem(t, await creditsCall(shop, live.key, 'POST', '/consume?test_mode=true', { end_user_id: 'u' }), 404, 'not_found')
  assertProblem(t, await creditsCall(shop, elsewhere.key, 'GET', `/balances/u?project_id=${project.id}`), 404, 'not_found')
  assertProblem(t, await creditsCall(shop, test.key, 'POST', `/consume?project_id=${other.id}`, { end_user_id: 'u' }), 404, 'not_found')
  const stranger = bearer(developerToken(newDeveloper().id))
  assertProblem(t, await app.inject({ method: 'GET', url: `/api/v1/credits/balances/u?project_id=${project.id}`, headers: stranger }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/credits/balances/u', headers: dev.headers }), 400, 'project_id_required')
  assertProblem(t, await creditsCall(shop, `${test.key.slice(0, -1)}x`, 'GET', '/balances/u'), 401, 'unauthorized')
  assertProblem(t, await creditsCall(shop, 'psk_test_short', 'GET', '/balances/u'), 401, 'unauthorized')

  // A second instance caches the key, then the revocation on this one reaches it through the change feed.
  const database = await secondConnection(t)
  const second = await buildTestApp(t, { database })
  t.equal((await creditsCall({ app: second }, test.key, 'GET', '/balances/u')).statusCode, 200, 'the other instance accepts the key (and caches it)')
  const revoked = await app.inject({ method: 'DELETE', url: `/api/v1/projects/${project.id}/api-keys/${test.id}`, headers: dev.headers })
  t.equal(revoked.statusCode, 200, revoked.body)
  assertProblem(t, await creditsCall(shop, test.key, 'GET', '/balances/u'), 401, 'unauthorized')
  if (TEST_DATABASE_URL) {
    const deadline = Date.now() + 5000
    let status = 200
    while (Date.now() < deadline && (status = (await creditsCall({ app: second }, test.key, 'GET', '/balances/u')).statusCode) === 200) await new Promise((resolve) => setTimeout(resolve, 20))
    t.equal(status, 401, 'the other instance refuses it once the revocation commits')
  }
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/api/v1/projects/${project.id}/api-keys/${test.id}`, headers: dev.headers }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'DELETE', url: `/api/v1/projects/${project.id}/api-keys/${test.id}`, headers: stranger }), 404, 'not_found')
  assertProblem(t, await app.inject({ method: 'POST', url: `/api/v1/projects/${project.id}/api-keys`, headers: stranger, payload: { mode: 'test', name: 'x' } }), 404, 'not_found')

  const text = logs.join('')
  t.ok(logs.length > 20, `log lines were captured (${logs.length})`)
  for (const key of [test.key, live.key, elsewhere.key]) t.notOk(text.includes(key) || text.includes(key.slice(9)), 'no key in any log line')
})

t.test('bad input: a clear 4xx problem that changes nothing', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const shop = { app, dev, project }
  const { key } = await createApiKey(shop)
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u', amount: 5, bucket: 'purchased', reason: 'seed' })
  const before = await queryRows(app.db, sql`select count(*)::int as n from credit_ledger l join credit_wallets w on w.id = l.wallet_id where w.project_id = ${project.id}`)
  for (const amount of [0, -1, 1.5, 1_000_000_001, 'abc', null]) {
    assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u', amount }), 400, 'validation_failed')
  }
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: '', amount: 1 }), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'x'.repeat(129) }), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u', extra: 1 }), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u' }, null), 400, 'idempotency_key_required')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u' }, 'k'.repeat(256)), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'nobody', amount: 1 }), 402, 'insufficient_credits')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u', amount: 0, bucket: 'bonus', reason: 'x' }), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u', amount: -6, bucket: 'purchased', reason: 'x' }), 402, 'insufficient_credits')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u', amount: 1, ttl_seconds: 3601 }), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/reservations/not-a-uuid/commit', {}), 400, 'validation_failed')
  assertProblem(t, await creditsCall(shop, key, 'GET', '/ledger?end_user_id=u&starting_after=abc'), 400, 'validation_failed')
  t.same(await queryRows(app.db, sql`select count(*)::int as n from credit_ledger l join credit_wallets w on w.id = l.wallet_id where w.project_id = ${project.id}`), before, 'no entry written')
  t.same(await balanceOf(shop, key, 'nobody'), { end_user_id: 'nobody', monthly: 0, purchased: 0, bonus: 0, total: 0, reserved: 0, available: 0, debt: 0, next_reset_at: null, expiring: [] }, 'an unknown end user has zeros')
})

t.test('under concurrency: 200 consumes of 1 against 100 credits from two instances give exactly 100 × 200 and 100 × 402; one key sent 20 times spends once', async (t) => {
  const app = await buildTestApp(t)
  const second = await buildTestApp(t, { database: await secondConnection(t) })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const shop = { app, dev, project }
  const { key } = await createApiKey(shop)
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'hot', amount: 100, bucket: 'purchased', reason: 'seed' })
  const results = await Promise.all(Array.from({ length: 200 }, (_, i) => creditsCall({ app: i % 2 ? second : app }, key, 'POST', '/consume', { end_user_id: 'hot' })))
  const codes = results.map((r) => r.statusCode)
  t.equal(codes.filter((c) => c === 200).length, 100, '100 spent')
  t.equal(codes.filter((c) => c === 402).length, 100, '100 refused')
  t.equal((await balanceOf(shop, key, 'hot')).total, 0)

  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'hot', amount: 50, bucket: 'purchased', reason: 'seed 2' })
  const same = await Promise.all(Array.from({ length: 20 }, (_, i) => creditsCall({ app: i % 2 ? second : app }, key, 'POST', '/consume', { end_user_id: 'hot', amount: 3 }, 'one-key')))
  t.same([...new Set(same.map((r) => r.statusCode))], [200], 'every answer is the one spend')
  t.equal(new Set(same.map((r) => r.json<{ id: string }>().id)).size, 1, 'one consumption id')
  t.equal(same.filter((r) => r.headers['idempotent-replayed'] === 'true').length, 19, 'nineteen replays')
  t.equal((await balanceOf(shop, key, 'hot')).total, 47, 'spent once')
})
