import t from 'tap'
import { sql } from 'drizzle-orm'
import { runRows } from '../../src/platform/db/statement.ts'
import { MonthCache, readStats, statsQuery } from '../../src/modules/stats/read-repository.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { DailyTextCache } from '../../src/modules/stats/service.ts'
import { StatsView } from '../../src/modules/payments/dashboard-schemas.ts'
import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import { assertProblem, buildTestApp, createProject, newDeveloper } from '../helpers/app.ts'
import { daysAgo, expectedTotals, get, insertSubscription, insertTransaction, today } from '../helpers/dashboard.ts'

const STATS = '/api/v1/payments/stats'

interface Daily { date: string, currency: string, gross: number, refunded: number, succeeded_count: number, failed_count: number, new_subscriptions: number, canceled_subscriptions: number }
interface Totals { currency: string, gross: number, refunded: number, net: number, succeeded_count: number, failed_count: number }
interface Stats {
  mode: string, from: string, to: string, totals: Totals[], subscriptions: Record<string, number>, mrr: Array<{ currency: string, amount: number }>,
  daily: Daily[], projects: Array<{ project_id: string, name: string, totals: Totals[], subscriptions: Record<string, number>, mrr: Array<{ currency: string, amount: number }> }>
}

t.test('jpy (zero-decimal) and usd, refunds on their own day, days with no data zero-filled, per-project breakdown', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const shop = await createProject(app, dev, 'Tokyo shop')
  const other = await createProject(app, dev, 'US shop')
  const stranger = newDeveloper()
  const theirs = await createProject(app, stranger, 'Not yours')
  await insertTransaction(app, { developerId: dev.id, projectId: shop.id, currency: 'jpy', amount: 500, succeededAt: '2024-03-01T23:59:59.999999Z' })
  await insertTransaction(app, { developerId: dev.id, projectId: shop.id, currency: 'jpy', amount: 1200, succeededAt: '2024-03-02T00:00:00Z' })
  await insertTransaction(app, { developerId: dev.id, projectId: other.id, currency: 'usd', amount: 1099, succeededAt: '2024-03-04T12:00:00Z', status: 'partially_refunded', amountRefunded: 99 })
  await app.db.execute(sql`update transactions set refunded_at = '2024-03-05T01:00:00Z' where project_id = ${other.id}`)
  await insertTransaction(app, { developerId: dev.id, projectId: other.id, currency: 'usd', amount: 700, status: 'failed', succeededAt: null })
  await app.db.execute(sql`update transactions set failed_at = '2024-03-04T13:00:00Z' where project_id = ${other.id} and status = 'failed'`)
  await insertTransaction(app, { developerId: dev.id, projectId: shop.id, currency: 'jpy', amount: 9999, succeededAt: '2024-03-06T00:00:00Z' })
  await insertTransaction(app, { developerId: stranger.id, projectId: theirs.id, currency: 'jpy', amount: 777_777, succeededAt: '2024-03-02T10:00:00Z' })
  await insertSubscription(app, { developerId: dev.id, projectId: shop.id, status: 'active', createdAt: '2024-03-03T00:00:00Z' })
  for (const p of [shop, other, theirs]) await recomputeStats(app.db, { projectId: p.id })

  const res = await get(app, dev, STATS, { from: '2024-03-01', to: '2024-03-05' })
  t.equal(res.statusCode, 200, res.body)
  const s = res.json<Stats>()
  t.match(s, { mode: 'test', from: '2024-03-01', to: '2024-03-05' })
  t.same(s.totals, [
    { currency: 'jpy', gross: 1700, refunded: 0, net: 1700, succeeded_count: 2, failed_count: 0 },
    { currency: 'usd', gross: 1099, refunded: 99, net: 1000, succeeded_count: 1, failed_count: 1 },
  ], 'the ¥9999 of 2024-03-06 is outside; the stranger\'s ¥777777 is not ours')
  t.same(s.totals.map(({ net: _net, ...rest }) => rest), await expectedTotals(app, dev.id, 'test', '2024-03-01', '2024-03-05'), 'equal to the source rows')
  t.equal(s.daily.length, 5 * 2, 'every day × every currency')
  t.same(s.daily.map((d) => d.date), ['2024-03-01', '2024-03-01', '2024-03-02', '2024-03-02', '2024-03-03', '2024-03-03', '2024-03-04', '2024-03-04', '2024-03-05', '2024-03-05'])
  const day = (date: string, currency: string) => s.daily.find((d) => d.date === date && d.currency === currency)
  t.match(day('2024-03-01', 'jpy'), { gross: 500, succeeded_count: 1 }, '23:59:59.999999 UTC is still March 1st')
  t.match(day('2024-03-02', 'jpy'), { gross: 1200, succeeded_count: 1 })
  t.same(day('2024-03-02', 'usd'), { date: '2024-03-02', currency: 'usd', gross: 0, refunded: 0, succeeded_count: 0, failed_count: 0, new_subscriptions: 0, canceled_subscriptions: 0 }, 'zero-filled')
  t.match(day('2024-03-03', 'usd'), { gross: 0, new_subscriptions: 1 }, 'the subscription counts on the day it was created')
  t.match(day('2024-03-04', 'usd'), { gross: 1099, refunded: 0, failed_count: 1 })
  t.match(day('2024-03-05', 'usd'), { gross: 0, refunded: 99 }, 'the refund counts on the day it was refunded')
  t.same(s.subscriptions, { active: 1, trialing: 0, past_due: 0, canceled: 0, incomplete: 0, unpaid: 0, paused: 0 })
  t.same(s.mrr, [{ currency: 'usd', amount: 2000 }])
  t.same(s.projects.map((p) => p.name), ['Tokyo shop', 'US shop'])
  t.match(s.projects[0], { project_id: shop.id, totals: [{ currency: 'jpy', gross: 1700 }], subscriptions: { active: 1 }, mrr: [{ currency: 'usd', amount: 2000 }] })
  t.match(s.projects[1], { project_id: other.id, totals: [{ currency: 'usd', gross: 1099, refunded: 99, net: 1000 }] })

  const one = (await get(app, dev, STATS, { from: '2024-03-01', to: '2024-03-05', project_id: other.id })).json<Stats>()
  t.same(one.totals, [{ currency: 'usd', gross: 1099, refunded: 99, net: 1000, succeeded_count: 1, failed_count: 1 }])
  t.same(one.projects.map((p) => p.project_id), [other.id])
  t.same(one.subscriptions.active, 0)

  const live = (await get(app, dev, STATS, { from: '2024-03-01', to: '2024-03-05', test_mode: false })).json<Stats>()
  t.same(live.totals, [])
  t.same(live.daily, [], 'no currency in live mode: no series')
})

t.test('a project with no data at all still appears when asked for; the default range is the last 30 days', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const p = await createProject(app, dev, 'Empty')
  const s = (await get(app, dev, STATS, { project_id: p.id })).json<Stats>()
  t.equal(s.to, today())
  t.equal(s.from, daysAgo(29))
  t.same(s.totals, [])
  t.same(s.projects, [{ project_id: p.id, name: 'Empty', totals: [], subscriptions: { active: 0, trialing: 0, past_due: 0, canceled: 0, incomplete: 0, unpaid: 0, paused: 0 }, mrr: [], credits_outstanding: 0 }])

  await insertTransaction(app, { developerId: dev.id, projectId: p.id, currency: 'eur', amount: 100, succeededAt: new Date().toISOString() })
  await recomputeStats(app.db, { projectId: p.id })
  const after = (await get(app, dev, STATS)).json<Stats>()
  t.equal(after.daily.length, 30)
  t.same(after.daily.filter((d) => d.gross > 0).map((d) => d.date), [today()])
})

t.test('date validation: from after to, more than two years, impossible dates', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  assertProblem(t, await get(app, dev, STATS, { from: '2024-03-02', to: '2024-03-01' }), 400, 'invalid_date_range')
  assertProblem(t, await get(app, dev, STATS, { from: '2022-01-01', to: '2024-01-03' }), 400, 'date_range_too_long')
  t.equal((await get(app, dev, STATS, { from: '2022-01-01', to: '2024-01-01' })).statusCode, 200, 'exactly two years (731 days with a leap year) is fine')
  for (const bad of ['2024-02-30', '2024-13-01', '24-01-01', 'today']) {
    t.equal((await get(app, dev, STATS, { from: bad, to: '2024-03-01' })).statusCode, 400, bad)
  }
  t.equal((await get(app, dev, STATS, { from: '2024-02-29', to: '2024-02-29' })).statusCode, 200, 'a leap day, one-day range')
})

t.test('a two-year series equals the stats rows summed over shards and projects, first and last day included, nothing from outside', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const a = await createProject(app, dev, 'A')
  const b = await createProject(app, dev, 'B')
  const from = '2023-01-01'
  const to = '2024-12-31' // 730 days after from (2024 is a leap year)
  const day = (offset: number) => new Date(Date.parse(`${from}T00:00:00Z`) + offset * 86_400_000).toISOString().slice(0, 10)
  // 'x,y' is no ISO currency, but nothing stops a stored one from holding the separators of the read path.
  const currencies = ['usd', 'jpy', 'x,y']
  let seed = 7
  const next = (n: number) => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % n }
  interface Cell { gross: number, refunded: number, succeeded_count: number, failed_count: number, new_subscriptions: number, canceled_subscriptions: number }
  const expected = new Map<string, Cell>()
  const perProject = new Map<string, Map<string, Cell>>()
  const rows: string[] = []
  const seen = new Set<string>()
  for (let i = 0; i < 400; i++) {
    const offset = i === 0 ? 0 : i === 1 ? 730 : i === 2 ? -1 : i === 3 ? 731 : next(731)
    const project = next(2) === 0 ? a : b
    const currency = currencies[next(currencies.length)] ?? 'usd'
    const shard = next(8)
    const key = `${project.id}|${offset}|${currency}|${shard}`
    if (seen.has(key)) continue
    seen.add(key)
    const cell: Cell = { gross: 3_000_000_000 + next(100_000), refunded: next(5000), succeeded_count: next(40), failed_count: next(5), new_subscriptions: next(3), canceled_subscriptions: next(2) }
    rows.push(`('${dev.id}', '${project.id}', 'test', '${day(offset)}', '${currency}', ${shard}, ${cell.gross}, ${cell.refunded}, ${cell.succeeded_count}, ${cell.failed_count}, ${cell.new_subscriptions}, ${cell.canceled_subscriptions})`)
    if (offset < 0 || offset > 730) continue
    const add = (into: Map<string, Cell>, k: string) => {
      const c = into.get(k) ?? { gross: 0, refunded: 0, succeeded_count: 0, failed_count: 0, new_subscriptions: 0, canceled_subscriptions: 0 }
      for (const f of Object.keys(c) as Array<keyof Cell>) c[f] += cell[f]
      into.set(k, c)
    }
    add(expected, `${day(offset)}|${currency}`)
    add(perProject.get(project.id) ?? perProject.set(project.id, new Map()).get(project.id) ?? new Map(), currency)
  }
  await app.db.execute(sql.raw(`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions) values ${rows.join(', ')}`))
  // A currency with current subscriptions only still gets its (zero) column in the series.
  await app.db.execute(sql`insert into stats_subscriptions (developer_id, project_id, mode, currency, shard, active, mrr) values (${dev.id}, ${b.id}::uuid, 'test', 'eur', 3, 2, 4000)`)

  const res = await get(app, dev, STATS, { from, to })
  t.equal(res.statusCode, 200, res.body)
  const s = res.json<Stats>()
  const columns = ['eur', 'jpy', 'usd', 'x,y']
  const zero = { gross: 0, refunded: 0, succeeded_count: 0, failed_count: 0, new_subscriptions: 0, canceled_subscriptions: 0 }
  const want = Array.from({ length: 731 }, (_, d) => columns.map((currency) => ({ date: day(d), currency, ...(expected.get(`${day(d)}|${currency}`) ?? zero) }))).flat()
  t.equal(s.daily.length, 731 * 4)
  t.same(s.daily, want, 'every cell, in date then currency order')
  const totalsOf = (cells: Map<string, Cell>) => [...cells].sort(([x], [y]) => (x < y ? -1 : 1))
    .map(([currency, c]) => ({ currency, gross: c.gross, refunded: c.refunded, net: c.gross - c.refunded, succeeded_count: c.succeeded_count, failed_count: c.failed_count }))
  const all = new Map<string, Cell>()
  for (const [key, c] of expected) {
    const currency = key.slice(11)
    const sum = all.get(currency) ?? { ...zero }
    for (const f of Object.keys(sum) as Array<keyof Cell>) sum[f] += c[f]
    all.set(currency, sum)
  }
  t.same(s.totals, totalsOf(all))
  t.same(s.projects.map((p) => [p.name, p.totals]), [['A', totalsOf(perProject.get(a.id) ?? new Map())], ['B', totalsOf(perProject.get(b.id) ?? new Map())]])
  t.same(s.mrr, [{ currency: 'eur', amount: 4000 }])
  t.same(s.projects[1]?.subscriptions.active, 2)
})

t.test('ranges that cut months (first and last month in part, one month, a leap day, one project) sum exactly the days inside', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const a = await createProject(app, dev, 'A')
  const b = await createProject(app, dev, 'B')
  const origin = Date.parse('2023-01-01T00:00:00Z')
  const day = (offset: number) => new Date(origin + offset * 86_400_000).toISOString().slice(0, 10)
  const offsetOf = (date: string) => Math.round((Date.parse(`${date}T00:00:00Z`) - origin) / 86_400_000)
  let seed = 11
  const next = (n: number) => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % n }
  const fields = ['gross', 'refunded', 'succeeded_count', 'failed_count', 'new_subscriptions', 'canceled_subscriptions'] as const
  interface Stored { offset: number, project: string, currency: string, values: number[] }
  const stored: Stored[] = []
  const seen = new Set<string>()
  for (let i = 0; i < 1500; i++) {
    // Every day of two years, often several rows a day, and some days only subscription moves.
    const offset = next(731)
    const project = next(2) === 0 ? a.id : b.id
    const currency = ['usd', 'eur'][next(2)] ?? 'usd'
    const shard = next(8)
    const key = `${project}|${offset}|${currency}|${shard}`
    if (seen.has(key)) continue
    seen.add(key)
    const money = next(4) !== 0
    const values = money ? [1000 + next(9000), next(300), 1 + next(5), next(2), next(2), next(2)] : [0, 0, 0, 0, 1, next(2)]
    stored.push({ offset, project, currency, values })
    await app.db.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions)
      values (${dev.id}, ${project}::uuid, 'test', ${day(offset)}::date, ${currency}, ${shard}, ${sql.join(values.map((v) => sql`${v}`), sql`, `)})`)
  }
  const ranges: Array<[string, string, string | undefined]> = [
    ['2023-01-17', '2024-12-09', undefined], // both ends in part
    ['2023-03-01', '2024-02-29', undefined], // whole months, to a leap day
    ['2024-02-29', '2024-03-01', undefined], // across a month end, from a leap day
    ['2023-06-05', '2023-06-20', undefined], // inside one month
    ['2023-07-01', '2023-07-31', undefined], // one whole month
    ['2023-11-30', '2024-01-01', a.id], // one project, a whole month between two single days
  ]
  for (const [from, to, projectId] of ranges) {
    const lo = offsetOf(from)
    const hi = offsetOf(to)
    const inside = stored.filter((r) => r.offset >= lo && r.offset <= hi && (!projectId || r.project === projectId))
    const res = await get(app, dev, STATS, { from, to, ...(projectId ? { project_id: projectId } : {}) })
    t.equal(res.statusCode, 200, res.body)
    const s = res.json<Stats>()
    const currencies = [...new Set(inside.map((r) => r.currency))].sort()
    const series = []
    for (let d = lo; d <= hi; d++) {
      for (const currency of currencies) {
        const cell: Record<string, number> = {}
        for (const [k, f] of fields.entries()) cell[f] = inside.filter((r) => r.offset === d && r.currency === currency).reduce((sum, r) => sum + (r.values[k] ?? 0), 0)
        series.push({ date: day(d), currency, ...cell })
      }
    }
    t.same(s.daily, series, `${from}..${to}${projectId ? ', one project' : ''}: every day`)
    const totals = (rows: Stored[]) => [...new Set(rows.map((r) => r.currency))].sort().map((currency) => {
      const sum = (k: number) => rows.filter((r) => r.currency === currency).reduce((acc, r) => acc + (r.values[k] ?? 0), 0)
      return { currency, gross: sum(0), refunded: sum(1), net: sum(0) - sum(1), succeeded_count: sum(2), failed_count: sum(3) }
    })
    t.same(s.totals, totals(inside), `${from}..${to}: totals`)
    const projects = [a, b].filter((p) => inside.some((r) => r.project === p.id) || p.id === projectId)
    t.same(s.projects.map((p) => [p.name, p.totals]), projects.map((p) => [p.name, totals(inside.filter((r) => r.project === p.id))]), `${from}..${to}: per project`)
  }
  t.same((await recomputeStats(app.db, { check: true })).drift.filter((d) => d.table === 'stats_monthly' || d.table === 'stats_developer_monthly'), [], 'the month rollups agree with stats_daily')
})

t.test('month rows held by the instance come back without their days, and a changed one is read again', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const p = await createProject(app, dev, 'A')
  const put = async (day: string, gross: number) => app.db.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, succeeded_count)
    values (${dev.id}, ${p.id}::uuid, 'test', ${day}::date, 'usd', 0, ${gross}, 1)
    on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross, succeeded_count = stats_daily.succeeded_count + 1`)
  await put('2024-01-10', 100)
  await put('2024-02-20', 200)
  const range = { from: '2024-01-01', to: '2024-03-31' }
  const read = async () => (await get(app, dev, STATS, range)).json<Stats>()
  const day = (s: Stats, date: string) => s.daily.find((d) => d.date === date)?.gross

  const first = await read()
  t.same([day(first, '2024-01-10'), day(first, '2024-02-20'), first.totals[0]?.gross], [100, 200, 300])
  t.same(await read(), first, 'the same answer from the rows held')

  // What the database sends once the rows are held: the rows' keys alone.
  const cache = new MonthCache()
  const scope = { developerId: dev.id, mode: 'test' as const, ...range }
  await readStats(app.db, scope, cache)
  const held = cache.held(`${dev.id}|test|`)
  t.equal(held.size, 2, 'two month rows held')
  const known = Object.fromEntries([...held].map(([tag, { xmin }]) => [tag, xmin]))
  const [row] = await runRows<{ series: string }>(app.db, statsQuery(scope, known))
  const rows = JSON.parse(`[${row?.series ?? ''}]`) as unknown[][]
  t.same(rows.map((r) => r.length), [4, 4], 'no days sent for rows held')

  await put('2024-02-20', 5)
  await put('2024-03-03', 40)
  const changed = await read()
  t.same([day(changed, '2024-01-10'), day(changed, '2024-02-20'), day(changed, '2024-03-03'), changed.totals[0]?.gross], [100, 205, 40, 345], 'a changed month and a new one are read anew')

  const small = new MonthCache(3)
  for (let i = 0; i < 5; i++) small.keep(`scope${i}`, 'm', '1', new Float64Array(1))
  t.equal(small.held('scope0').size + small.held('scope1').size, 0, 'the least recently read scopes go first')
  t.equal(small.held('scope4').size, 1)
})

t.test('whole months\' per-project sums are held while the developer\'s month rows keep their xmin', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const a = await createProject(app, dev, 'A')
  const b = await createProject(app, dev, 'B')
  const put = async (project: string, day: string, gross: number) => app.db.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, succeeded_count)
    values (${dev.id}, ${project}::uuid, 'test', ${day}::date, 'usd', 1, ${gross}, 1)
    on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross, succeeded_count = stats_daily.succeeded_count + 1`)
  await put(a.id, '2024-01-10', 100)
  await put(b.id, '2024-02-20', 200)
  await put(a.id, '2024-03-15', 7)
  // January and February whole, March in part.
  const scope = { developerId: dev.id, mode: 'test' as const, from: '2024-01-01', to: '2024-03-20' }
  const cache = new MonthCache()
  const grossOf = (rows: Awaited<ReturnType<typeof readStats>>) =>
    Object.fromEntries([...rows.projectTotals].map((p) => [rows.names.get(p.projectId) ?? '?', p.gross]))

  t.same(grossOf(await readStats(app.db, scope, cache)), { A: 107, B: 200 })
  const held = cache.totals(`${dev.id}|test||2024-01-01|2024-02-01`)
  t.ok(held, 'the whole months\' sums are held')
  t.same(held?.projectIds.sort(), [a.id, b.id].sort())

  // Held and unchanged: the database leaves the project rows alone and still names their projects;
  // the partial month's project rows held come back as their keys.
  const rowsHeld = cache.held(`${dev.id}|test|`)
  t.ok(rowsHeld.has(`${a.id}|2024-03-01|usd|1`), 'the partial month\'s project row is held')
  const known = Object.fromEntries([...rowsHeld].map(([tag, { xmin }]) => [tag, xmin]))
  const [row] = await runRows<{ project_totals: unknown, whole_fingerprint: string, names: unknown, partial_months: string }>(app.db, statsQuery(scope, known, held))
  t.equal(row?.whole_fingerprint, held?.fingerprint)
  t.equal(row?.project_totals, null, 'no sums sent')
  t.equal((row?.names as unknown[]).length, 2, 'both projects named')
  t.same((JSON.parse(`[${row?.partial_months ?? ''}]`) as unknown[][]).map((r) => r.length), [5], 'no days sent for the partial month\'s row held')
  t.same(grossOf(await readStats(app.db, scope, cache)), { A: 107, B: 200 }, 'the same answer from the sums held')

  // The partial month changes nothing held; a whole month of either project does.
  await put(a.id, '2024-03-16', 3)
  t.same(grossOf(await readStats(app.db, scope, cache)), { A: 110, B: 200 })
  t.equal(cache.totals(`${dev.id}|test||2024-01-01|2024-02-01`)?.fingerprint, held?.fingerprint, 'a change in the partial month keeps the fingerprint')
  await put(b.id, '2024-01-31', 50)
  t.same(grossOf(await readStats(app.db, scope, cache)), { A: 110, B: 250 }, 'a change to another project\'s whole month is read anew')
  const before = cache.totals(`${dev.id}|test||2024-01-01|2024-02-01`)?.fingerprint
  t.not(before, held?.fingerprint)

  // The recompute's rebuild writes every row anew: read anew too.
  await app.db.execute(sql`select stats_rollup_rebuild(${dev.id})`)
  const [rebuilt] = await runRows<{ whole_fingerprint: string }>(app.db, statsQuery(scope))
  t.not(rebuilt?.whole_fingerprint, before, 'a rebuild changes the fingerprint')
  t.same(grossOf(await readStats(app.db, scope, cache)), { A: 110, B: 250 })

  // One project's scope reads its few rows every time: nothing held.
  const single = new MonthCache()
  await readStats(app.db, { ...scope, projectId: a.id }, single)
  t.equal(single.totals(`${dev.id}|test|${a.id}|2024-01-01|2024-02-01`), undefined)

  const small = new MonthCache(10, 2)
  for (let i = 0; i < 3; i++) small.keepTotals(`k${i}`, { fingerprint: 'f', rows: [], projectIds: [] })
  t.equal(small.totals('k0'), undefined, 'the least recently read sums go first')
  t.ok(small.totals('k2'))
})

t.test('the daily series is written month by month and reused while the month\'s rows are unchanged: the same text as the schema describes', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const a = await createProject(app, dev, 'A "quoted" \\ name')
  const put = async (day: string, currency: string, gross: number) => app.db.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, succeeded_count, new_subscriptions)
    values (${dev.id}, ${a.id}::uuid, 'test', ${day}::date, ${currency}, 2, ${gross}, 1, 1)
    on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross, succeeded_count = stats_daily.succeeded_count + 1`)
  await put('2024-01-31', 'usd', 9_007_199_254)
  await put('2024-02-29', 'jpy', 500)
  await put('2024-03-01', 'usd', 1)
  const range = { from: '2024-01-15', to: '2024-03-02' }
  const first = await get(app, dev, STATS, range)
  t.equal(first.statusCode, 200)
  t.match(first.headers['content-type'], /^application\/json/)
  const body = first.json<Stats>()
  const validate = addFormats.default(new Ajv.default({ strict: false, allErrors: true })).compile(StatsView)
  t.ok(validate(body), `the response matches StatsView ${JSON.stringify(validate.errors?.slice(0, 3))}`)
  t.equal(first.body, JSON.stringify(body), 'compact JSON, nothing but what it parses to')
  const itemKeys = Object.keys((StatsView.properties.daily.items as { properties: object }).properties)
  t.ok(body.daily.every((d) => JSON.stringify(Object.keys(d)) === JSON.stringify(itemKeys)), 'every entry\'s keys in the schema\'s order')
  t.equal(body.daily.length, 48 * 2, 'every day × jpy and usd')
  t.same(body.daily.filter((d) => d.gross !== 0).map((d) => [d.date, d.currency, d.gross]), [['2024-01-31', 'usd', 9_007_199_254], ['2024-02-29', 'jpy', 500], ['2024-03-01', 'usd', 1]])
  t.equal(body.projects[0]?.name, 'A "quoted" \\ name')

  const again = await get(app, dev, STATS, range)
  t.equal(again.body, first.body, 'the same text from the months held')
  // A change to February: only its days are written anew, and they show it.
  await put('2024-02-10', 'usd', 70)
  const changed = (await get(app, dev, STATS, range)).json<Stats>()
  t.same(changed.daily.filter((d) => d.gross !== 0).map((d) => [d.date, d.currency, d.gross]),
    [['2024-01-31', 'usd', 9_007_199_254], ['2024-02-10', 'usd', 70], ['2024-02-29', 'jpy', 500], ['2024-03-01', 'usd', 1]])
  // A new currency changes every month's entries.
  await put('2024-01-20', 'eur', 3)
  const widened = (await get(app, dev, STATS, range)).json<Stats>()
  t.equal(widened.daily.length, 48 * 3)
  t.same(widened.daily.filter((d) => d.date === '2024-01-15').map((d) => d.currency), ['eur', 'jpy', 'usd'])

  const texts = new DailyTextCache(10)
  texts.set('a', 'v1', '12345')
  t.equal(texts.get('a', 'v2'), undefined, 'another version is not the text held')
  t.equal(texts.get('a', 'v1'), '12345')
  texts.set('b', 'v1', '123456')
  t.equal(texts.get('a', 'v1'), undefined, 'beyond the characters allowed, the least recently used goes')
  t.equal(texts.get('b', 'v1'), '123456')
})
