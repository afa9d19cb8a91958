import t from 'tap'
import fc from 'fast-check'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { HANDLED_EVENT_TYPES } from '../../src/webhooks/registry.ts'
import { configureStripe, createProject } from '../helpers/app.ts'
import { eventStatuses, postEvent, projectSnapshot, recordLifecycle, signed, webhookHarness } from '../helpers/webhooks.ts'
import { dashboard, oneTimePrice } from '../stripe-local/helpers.ts'


t.test('every handled event type, in order, then shuffled and duplicated: same state, and stats equal to stats:recompute', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const events = await recordLifecycle(t, h)
  const types = new Set(events.map((b) => (JSON.parse(b) as { type: string }).type))
  for (const type of HANDLED_EVENT_TYPES) t.ok(types.has(type), `the lifecycle has ${type}`)

  const fresh = async () => {
    const project = await createProject(h.app, h.dev, 'Replay')
    const secret = `whsec_replay_${project.id.replaceAll('-', '')}`
    await configureStripe(h.app, h.dev, project.id, { secret_key: h.account.test.secret_key, publishable_key: h.account.test.publishable_key, webhook_secret: secret })
    return { id: project.id, secret }
  }
  const deliver = async (project: { id: string, secret: string }, bodies: string[]) => {
    for (const body of bodies) {
      const res = await postEvent(h.app, project.id, body, signed(body, project.secret))
      if (res.statusCode !== 200) throw new Error(`delivery failed: ${res.statusCode} ${res.body}`)
    }
  }

  const inOrder = await fresh()
  await deliver(inOrder, events)
  const expected = await projectSnapshot(h.app, inOrder.id)
  const statuses = await eventStatuses(h.app, inOrder.id)
  for (const type of HANDLED_EVENT_TYPES) t.ok(statuses.some((e) => e.type === type && e.status === 'processed'), `${type} processed`)
  t.notOk(statuses.some((e) => e.status === 'failed'), 'no failures')
  t.match(expected.subscriptions, [{ status: 'canceled', quantity: 2, amount: 1500, end_user_id: 'user-42' }])
  t.equal(expected.transactions.filter((x) => x.kind === 'invoice').length, 3, 'three invoices')
  t.same(expected.transactions.filter((x) => x.kind === 'one_time').map((x) => x.status).sort(), ['canceled', 'partially_refunded'], 'the paid one (its declined first attempt is the same payment intent) and the canceled one; an unpaid expired checkout nobody recorded creates nothing')
  t.match(expected.transactions.find((x) => x.kind === 'one_time' && x.status === 'partially_refunded'), { amount: 990, amount_refunded: 190, end_user_id: 'user-42' })
  t.match(expected.current, [{ canceled: 1, active: 0, mrr: 0 }])
  const totals = expected.daily.reduce<{ gross: number, refunded: number, n: number }>((acc, d) => ({ gross: acc.gross + Number(d.gross), refunded: acc.refunded + Number(d.refunded), n: acc.n + Number(d.succeeded_count) }), { gross: 0, refunded: 0, n: 0 } as { gross: number, refunded: number, n: number })
  t.same(totals, { gross: 3 * 3000 + 990, refunded: 190, n: 4 }, 'each payment counted once')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: inOrder.id })).drift, [], 'incremental stats equal the recomputed ones')

  const n = events.length
  await fc.assert(fc.asyncProperty(
    fc.shuffledSubarray([...events.keys()], { minLength: n, maxLength: n }),
    fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n)), { maxLength: 10 }),
    async (order, duplicates) => {
      const stream = order.map((i) => events[i] ?? '')
      for (const [which, at] of duplicates) stream.splice(at, 0, events[which] ?? '')
      const project = await fresh()
      await deliver(project, stream)
      const got = await projectSnapshot(h.app, project.id)
      t.same(got, expected, 'same subscriptions, transactions and stats as in order')
      t.same((await recomputeStats(h.app.db, { check: true, projectId: project.id })).drift, [], 'and equal to stats:recompute')
    },
  ), { numRuns: 15 })
})

t.test('stats:recompute reports drift and repairs it', async (t) => {
  const h = await webhookHarness(t)
  const price = await oneTimePrice(h.stripe, 1234)
  const session = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' })
  await dashboard(h.local, `/checkout/sessions/${session.id}/complete`)
  await h.local.idle()
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [])
  await h.app.db.execute(sql`update stats_daily set gross = gross + 1 where project_id = ${h.project.id} and gross > 0`)
  const checked = await recomputeStats(h.app.db, { check: true, projectId: h.project.id })
  t.match(checked.drift, [{ table: 'stats_daily', field: 'gross', stored: 1235, expected: 1234 }])
  t.equal(checked.rewritten, false)
  const repaired = await recomputeStats(h.app.db, { projectId: h.project.id })
  t.equal(repaired.rewritten, true)
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'no drift after the rewrite')
  t.match((await projectSnapshot(h.app, h.project.id)).daily, [{ gross: 1234, succeeded_count: 1 }])
})

t.test('the month rollups follow stats_daily through every write, and stats:recompute rebuilds them when they drift', async (t) => {
  const h = await webhookHarness(t)
  const price = await oneTimePrice(h.stripe, 2500)
  for (let i = 0; i < 2; i++) {
    const session = await h.stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], success_url: 'https://a.example/ok', cancel_url: 'https://a.example/no' })
    await dashboard(h.local, `/checkout/sessions/${session.id}/complete`)
  }
  await h.local.idle()
  const month = async () => (await queryRows<{ gross: number, succeeded: number, dev_gross: number }>(h.app.db, sql`select
      (select sum(gross_total)::int from stats_monthly where project_id = ${h.project.id}) as gross,
      (select sum(succeeded_total)::int from stats_monthly where project_id = ${h.project.id}) as succeeded,
      (select sum(g)::int from stats_developer_monthly, unnest(gross) g where developer_id = (select developer_id from projects where id = ${h.project.id})) as dev_gross`))[0]
  t.same(await month(), { gross: 5000, succeeded: 2, dev_gross: 5000 }, 'two payments in the project and developer months')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'rollups agree with stats_daily day by day')

  // A direct write to stats_daily (as the drift test above makes) moves the months with it.
  await h.app.db.execute(sql`update stats_daily set gross = gross + 7
    where (project_id, mode, day, currency, shard) = (select project_id, mode, day, currency, shard from stats_daily where project_id = ${h.project.id} and gross > 0 limit 1)`)
  t.same(await month(), { gross: 5007, succeeded: 2, dev_gross: 5007 }, 'an update of stats_daily reaches both rollups')
  const daily = (await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift
  t.same(daily.map((d) => d.table), ['stats_daily'], 'only stats_daily differs from the source rows')

  // A write to a rollup alone is drift of the rollup, which the rewrite rebuilds.
  await h.app.db.execute(sql`update stats_developer_monthly set gross[1] = gross[1] + 3
    where (developer_id, mode, month, currency, shard) = (select developer_id, mode, month, currency, shard from stats_developer_monthly
      where developer_id = (select developer_id from projects where id = ${h.project.id}) limit 1)`)
  await h.app.db.execute(sql`update stats_monthly set succeeded_count[2] = succeeded_count[2] + 1
    where (mode, month, project_id, currency, shard) = (select mode, month, project_id, currency, shard from stats_monthly where project_id = ${h.project.id} limit 1)`)
  const checked = await recomputeStats(h.app.db, { check: true, projectId: h.project.id })
  t.same([...new Set(checked.drift.map((d) => d.table))].sort(), ['stats_daily', 'stats_developer_monthly', 'stats_monthly'], 'drift in both rollups is reported')
  const developerDrift = checked.drift.find((d) => d.table === 'stats_developer_monthly')
  t.match(developerDrift, { project_id: '', field: 'gross' })
  t.equal((developerDrift?.stored ?? 0) - (developerDrift?.expected ?? 0), 3, 'by the 3 added to it')
  await recomputeStats(h.app.db, { projectId: h.project.id })
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'no drift after the rewrite')
  t.same(await month(), { gross: 5000, succeeded: 2, dev_gross: 5000 }, 'the rollups rebuilt from the rewritten stats_daily')
  t.match((await projectSnapshot(h.app, h.project.id)).daily, [{ gross: 5000, succeeded_count: 2 }])
})
