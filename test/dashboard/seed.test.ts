import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { seedDatabase } from '../../src/jobs/seed.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { buildTestApp, developerToken, bearer, newDeveloperId, TEST_KEYS } from '../helpers/app.ts'
import { daysAgo, expectedTotals, get, today } from '../helpers/dashboard.ts'
import { parseEncryptionKeys } from '../../src/config.ts'

t.test('the seed fills realistic rows and leaves the stats equal to recompute and to the source rows', async (t) => {
  const app = await buildTestApp(t)
  const developerIds = [newDeveloperId(), newDeveloperId()]
  const result = await seedDatabase(app.db, {
    developers: 2, developerIds, projects: 4, transactions: 3000, subscriptions: 400, seed: 42, keyring: { encryptionKeys: parseEncryptionKeys(TEST_KEYS) },
  })
  t.equal(result.projects.length, 4)
  for (const p of result.projects) {
    t.same((await recomputeStats(app.db, { check: true, projectId: p.id })).drift, [], `no drift in ${p.name}`)
  }
  const [mix] = await queryRows<{ n: number, currencies: number, statuses: number, refunded: number, modes: number }>(app.db, sql`select count(*)::int as n,
      count(distinct currency)::int as currencies, count(distinct status)::int as statuses, count(*) filter (where amount_refunded > 0)::int as refunded, count(distinct mode)::int as modes
    from transactions where developer_id in (${developerIds[0] ?? ''}, ${developerIds[1] ?? ''})`)
  t.match(mix, { n: 3000, currencies: 3, statuses: 7, modes: 2 })
  t.ok((mix?.refunded ?? 0) > 0, 'some refunds')
  const [subs] = await queryRows<{ n: number, statuses: number }>(app.db, sql`select count(*)::int as n, count(distinct status)::int as statuses from subscriptions where developer_id = ${developerIds[0] ?? ''} or developer_id = ${developerIds[1] ?? ''}`)
  t.match(subs, { n: 400 })
  t.ok((subs?.statuses ?? 0) >= 6)

  const dev = developerIds[0] ?? ''
  const headers = bearer(developerToken(dev))
  const from = daysAgo(731)
  const res = await get(app, { id: dev, token: '', headers }, '/api/v1/payments/stats', { test_mode: false, from, to: today() })
  t.equal(res.statusCode, 200, res.body.slice(0, 300))
  const body = res.json<{ totals: Array<{ currency: string, gross: number, refunded: number, net: number, succeeded_count: number, failed_count: number }>, projects: unknown[] }>()
  t.same(body.totals.map(({ net: _net, ...r }) => r), await expectedTotals(app, dev, 'live', from, today()), 'stats API equals the source rows over two years')
  t.equal(body.projects.length, 2, 'the developer\'s two projects')
  const page = await get(app, { id: dev, token: '', headers }, '/api/v1/payments/transactions', { test_mode: false, limit: 100 })
  t.equal(page.json<{ data: unknown[] }>().data.length, 100)
})
