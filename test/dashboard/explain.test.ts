import t from 'tap'
import { sql, type SQL } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { subscriptionListQuery, transactionListQuery, type ListFilters } from '../../src/modules/payments/list-repository.ts'
import { Fragment, q, runRows } from '../../src/platform/db/statement.ts'
import { statsQuery } from '../../src/modules/stats/read-repository.ts'
import { read, readStatement } from '../../src/platform/db/effects.ts'
import { customerEndUser } from '../../src/modules/payments/customer-repository.ts'
import { subscriptionById } from '../../src/modules/payments/subscription-repository.ts'
import { transactionsByKeys } from '../../src/modules/payments/transaction-repository.ts'
import { eventStatus } from '../../src/webhooks/repository.ts'
import { EFFECT_KINDS } from '../../src/webhooks/pipeline/kinds.ts'
import { seedDatabase } from '../../src/jobs/seed.ts'
import { TEST_DATABASE_URL, newDeveloperId, testDatabase } from '../helpers/app.ts'

// The plans of every dashboard query shape, on a Postgres server with enough rows that the planner's
// choice means something. PGlite's planner is the same code, but its tiny test tables say nothing.

interface PlanNode { 'Node Type': string, 'Relation Name'?: string, 'Index Name'?: string, Plans?: PlanNode[] }

function nodes (plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)]
}

const BIG = new Set(['transactions', 'subscriptions', 'stats_daily', 'stats_monthly', 'stats_developer_monthly'])
// stats_subscriptions holds one row per (project, mode, currency, shard): a few pages, where a
// sequential scan is the right plan; it is checked only when it is big enough to matter.
const SMALL_OK = new Set(['stats_subscriptions'])

t.test('every list, filter and stats query is an index scan, never a sequential scan', { skip: TEST_DATABASE_URL ? false : 'EXPLAIN needs a PostgreSQL server (set DATABASE_URL); PGlite plans on tiny tables are not meaningful' }, async (t) => {
  const { database } = await testDatabase()
  const db = database.db
  const developerIds = Array.from({ length: 12 }, () => newDeveloperId())
  const seeded = await seedDatabase(db, { developers: 12, developerIds, projects: 24, transactions: 40_000, subscriptions: 8_000, seed: 7, concurrency: 4 })
  const [pages] = await queryRows<{ n: number }>(db, sql`select relpages::int as n from pg_class where relname = 'stats_subscriptions' and relnamespace = current_schema()::regnamespace`)
  if ((pages?.n ?? 0) > 20) BIG.add('stats_subscriptions')

  const dev = developerIds[0] ?? ''
  const project = seeded.projects.find((p) => p.developerId === dev)?.id ?? ''
  const [tx] = await queryRows<{ id: string, customer: string, user: string }>(db, sql`select id, stripe_customer_id as customer, end_user_id as user from transactions
    where developer_id = ${dev} and mode = 'live' and project_id = ${project} and stripe_customer_id is not null order by created_at desc offset 30 limit 1`)
  const [sub] = await queryRows<{ id: string }>(db, sql`select id from subscriptions where developer_id = ${dev} and mode = 'live' and project_id = ${project} order by created_at desc offset 30 limit 1`)
  t.ok(tx && sub, 'seeded rows to page from')

  async function check (name: string, query: SQL | Fragment): Promise<void> {
    const [row] = query instanceof Fragment
      ? await runRows<{ 'QUERY PLAN': unknown }>(db, q`explain (format json) ${query}`)
      : await queryRows<{ 'QUERY PLAN': unknown }>(db, sql`explain (format json) ${query}`)
    const raw = row?.['QUERY PLAN']
    const plan = (typeof raw === 'string' ? JSON.parse(raw) : raw) as Array<{ Plan: PlanNode }>
    const all = plan[0] ? nodes(plan[0].Plan) : []
    const seq = all.filter((n) => n['Node Type'] === 'Seq Scan' && BIG.has(n['Relation Name'] ?? ''))
    const used = all.filter((n) => n['Index Name']).map((n) => n['Index Name'])
    t.same(seq.map((n) => n['Relation Name']), [], `${name}: no sequential scan (indexes: ${[...new Set(used)].join(', ')})`)
    const scanned = all.map((n) => n['Relation Name']).filter((r): r is string => r !== undefined)
    if (scanned.some((r) => BIG.has(r))) t.ok(all.some((n) => /Index|Bitmap/.test(n['Node Type'])), `${name}: an index is used`)
    else t.ok(scanned.every((r) => SMALL_OK.has(r)), `${name}: only small tables (${scanned.join(', ')}, ${pages?.n ?? 0} pages) are read whole`)
  }

  const base: ListFilters = { developerId: dev, mode: 'live' }
  const shapes: Array<[string, Partial<ListFilters>]> = [
    ['no filter', {}],
    ['status', { status: 'failed' }],
    ['customer (Stripe id)', { customer: tx?.customer ?? 'cus_x' }],
    ['customer (end user)', { customer: tx?.user ?? 'user_1' }],
    ['created range', { createdGte: '2025-01-01T00:00:00Z', createdLte: '2025-06-30T00:00:00Z' }],
    ['created gte only', { createdGte: new Date(Date.now() - 86_400_000).toISOString() }],
    ['status + created', { status: 'succeeded', createdGte: '2025-01-01T00:00:00Z' }],
    ['status + customer', { status: 'succeeded', customer: tx?.customer ?? 'cus_x' }],
  ]
  for (const [label, extra] of shapes) {
    for (const withProject of [false, true]) {
      const f: ListFilters = { ...base, ...extra, ...(withProject ? { projectId: project } : {}) }
      const where = `${label}${withProject ? ', project' : ''}`
      await check(`transactions ${where}`, transactionListQuery(db, f, 21).getSQL())
      await check(`transactions ${where}, cursor`, transactionListQuery(db, f, 21, tx?.id).getSQL())
      const subFilter = { ...f, ...(f.status ? { status: f.status === 'failed' ? 'past_due' : 'active' } : {}) }
      await check(`subscriptions ${where}`, subscriptionListQuery(db, subFilter, 21).getSQL())
      await check(`subscriptions ${where}, cursor`, subscriptionListQuery(db, subFilter, 21, sub?.id).getSQL())
    }
  }
  const to = new Date().toISOString().slice(0, 10)
  const monthAgo = new Date(Date.now() - 29 * 86_400_000).toISOString().slice(0, 10)
  const twoYears = new Date(Date.now() - 731 * 86_400_000).toISOString().slice(0, 10)
  for (const [label, from] of [['30 days', monthAgo], ['2 years', twoYears]] as const) {
    await check(`stats ${label}`, statsQuery({ developerId: dev, mode: 'live', from, to }))
    await check(`stats ${label}, project`, statsQuery({ developerId: dev, mode: 'live', projectId: project, from, to }))
  }
  // The webhook batch's read: a status, a customer, a subscription and four Stripe ids per event, each an index probe.
  const reads = Array.from({ length: 20 }, (_, i) => [
    read(eventStatus, { projectId: project, mode: 'live' as const, id: `evt_explain_${i}` }),
    read(customerEndUser, { projectId: project, mode: 'live' as const, customerId: tx?.customer ?? null }),
    read(subscriptionById, { projectId: project, mode: 'live' as const, subscriptionId: `sub_explain_${i}` }),
    read(transactionsByKeys, { projectId: project, mode: 'live' as const, keys: { checkoutSessionId: `cs_explain_${i}`, paymentIntentId: `pi_explain_${i}`, invoiceId: `in_explain_${i}`, chargeId: `ch_explain_${i}` } }),
  ]).flat()
  await check('webhook batch read', readStatement(EFFECT_KINDS, reads))
})
