import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { openDatabase, queryRows, type Database } from '../../src/platform/db/client.ts'
import { recomputeCredits } from '../../src/jobs/credits-recompute.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { startStripeLocal, type LocalAccount } from '../../stripe-local/index.ts'
import { developerToken } from '../helpers/app.ts'
import { creditSnapshot, walletConsistency } from '../helpers/credits.ts'
import { projectSnapshot, signed } from '../helpers/webhooks.ts'
import {
  generateHistory, historyCredits, historyReceiver, newCounters, pool, restartPostgres, scratchDatabase, seeded, sendAll, serviceInstance, shuffle,
  waitForPostgres, type CreditsShape, type Delivery, type HistoryCredits, type Instance, type PlanTerms,
} from './helpers/harness.ts'

/**
 * Three real service processes on one Postgres database; a generated history of thousands of signed
 * events for many projects, each delivered 1–5 times in a shuffled order across the instances while
 * Postgres connections are terminated, Postgres restarts and one instance is SIGKILLed. Afterwards every
 * event is recorded once and every project's subscriptions, transactions and stats equal the in-order
 * result and stats:recompute. Every other project sells credits (packages bought by checkout and by a
 * payment intent alone, refunded in cumulative steps, and a plan paid for several periods): each grant
 * made exactly once, its wallets equal to the in-order ones and to what the history grants by the
 * rules, and no drift for credits:recompute.
 */

const PROJECTS = Number(process.env.RELIABILITY_PROJECTS ?? 24)
const SEED = Number(process.env.RELIABILITY_SEED ?? Date.now() % 1_000_000)
const ENCRYPTION_KEY = randomBytes(32).toString('base64')
const JWT_SECRET = randomBytes(32).toString('base64url')
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

interface Project { index: number, account: LocalAccount, id: string, refId: string, secret: string, refSecret: string, credits: CreditsShape | null }

/** What a project with credits sells (every other project): the package's terms, the plan's subscribers and refunded purchases. */
const creditsShape = (index: number): CreditsShape | null =>
  index % 2 === 0 ? { packCredits: 100 + 10 * (index % 3), expiresInDays: index % 4 === 0 ? 180 : null, planSubscribers: 2, renewals: 3, purchases: 2 } : null
/** The plan's terms for a project with credits: half of them roll unused credits over; every one grants trial credits. */
const planTerms = (index: number, price: string): PlanTerms => {
  const rollover = index % 4 === 2
  return { price, creditsPerPeriod: 50 + index, trialCredits: 20, rollover }
}

t.test('three instances, duplicated and shuffled deliveries, faults: nothing lost, nothing doubled', { timeout: 300_000, skip: process.env.RELIABILITY ? false : 'the reliability suite runs with npm run test:reliability (it restarts Postgres)' }, async (t) => {
  const started = Date.now()
  const random = seeded(SEED)
  t.comment(`seed ${SEED} (RELIABILITY_SEED=${SEED} repeats this run), ${PROJECTS} projects`)
  const db = await scratchDatabase()
  const local = await startStripeLocal({ port: 0, retry: { maxAttempts: 4, baseDelayMs: 25 } })
  const instances: Instance[] = []
  const closers: Array<() => Promise<void>> = []
  t.teardown(async () => {
    for (const instance of instances) await instance.kill('SIGKILL')
    for (const close of closers.reverse()) await close().catch(() => {})
    await local.close()
    await db.drop()
  })

  const env = {
    NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: '6', ENCRYPTION_KEYS: `k1:${ENCRYPTION_KEY}`, JWT_SECRET,
    STRIPE_API_BASE: local.url, LOG_LEVEL: 'info',
  }
  instances.push(await serviceInstance('instance-1', env))
  instances.push(...await Promise.all([serviceInstance('instance-2', env), serviceInstance('instance-3', env)]))

  // The in-order reference: an app of its own on schema `ref` of the same database.
  const appLogs: string[] = []
  const logStream = new Writable({ write (chunk: Buffer, _enc, done) { appLogs.push(chunk.toString('utf8')); done() } })
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, ENCRYPTION_KEYS: `k1:${ENCRYPTION_KEY}`, JWT_SECRET, STRIPE_API_BASE: local.url, LOG_LEVEL: 'info', DATA_DIR: '/nonexistent' })
  const openApp = async (schema: string): Promise<{ app: FastifyInstance, database: Database }> => {
    const database = await openDatabase({ url: db.url, schema, poolSize: 4 })
    if (schema !== 'public') await database.migrate()
    const app = await buildApp({ config, database, logStream })
    await app.ready()
    closers.push(async () => { await app.close(); await database.close() })
    return { app, database }
  }
  const ref = await openApp('ref')
  const observer = await openApp('public')

  const responses: string[] = []
  const developer = `dev_rel_${randomBytes(4).toString('hex')}`
  const headers = { authorization: `Bearer ${developerToken(developer, { secret: JWT_SECRET })}`, 'content-type': 'application/json' }
  const api = async (base: string, method: string, path: string, body: unknown, expect: number): Promise<Record<string, unknown>> => {
    const res = await fetch(`${base}/api/v1${path}`, { method, headers, body: JSON.stringify(body) })
    const text = await res.text()
    responses.push(text)
    if (res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  const refApi = async (method: 'GET' | 'POST' | 'PUT', path: string, body: unknown): Promise<Record<string, unknown>> => {
    const res = await ref.app.inject({ method, url: `/api/v1${path}`, headers, payload: JSON.stringify(body) })
    responses.push(res.body)
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body}`)
    return res.json<Record<string, unknown>>()
  }

  // Projects: each with its own local Stripe account, configured through the instances' API.
  const projects: Project[] = []
  for (let index = 0; index < PROJECTS; index++) {
    const account = await local.createAccount()
    const base = (instances[index % instances.length] as Instance).url
    const secret = `whsec_rel_${randomBytes(12).toString('hex')}`
    const refSecret = `whsec_ref_${randomBytes(12).toString('hex')}`
    const created = await api(base, 'POST', '/projects', { name: `Project ${index}` }, 201)
    const id = String(created.id)
    await api(base, 'PUT', `/payments/stripe/projects/${id}/config?test_mode=true`, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: secret }, 200)
    const refProject = await refApi('POST', '/projects', { name: `Project ${index}` })
    const refId = String(refProject.id)
    await refApi('PUT', `/payments/stripe/projects/${refId}/config?test_mode=true`, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: refSecret })
    projects.push({ index, account, id, refId, secret, refSecret, credits: creditsShape(index) })
  }

  // The history: every project's business at the local Stripe server, several projects at once.
  const receiver = await historyReceiver()
  closers.push(() => receiver.close())
  const plans = new Map<number, PlanTerms>()
  await pool(projects, 6, async (p) => {
    const prices = await generateHistory(local, p.account, receiver.url(String(p.index)), p.index + SEED, { subscribers: 4, oneTime: 3, ...(p.credits ? { credits: p.credits } : {}) })
    if (!p.credits || !prices.plan) return
    // The catalog, through the public routes (which read the prices back from Stripe), before any event is delivered.
    const plan = planTerms(p.index, prices.plan)
    plans.set(p.index, plan)
    const planBody = { credits_per_period: plan.creditsPerPeriod, trial_credits: plan.trialCredits, rollover: plan.rollover, name: 'Credits plan' }
    const packBody = { credits: p.credits.packCredits, ...(p.credits.expiresInDays ? { expires_in_days: p.credits.expiresInDays } : {}), name: 'Credits pack' }
    const base = (instances[p.index % instances.length] as Instance).url
    await api(base, 'PUT', `/payments/stripe/projects/${p.id}/plans/${plan.price}?test_mode=true`, planBody, 200)
    await api(base, 'PUT', `/payments/stripe/projects/${p.id}/packages/${prices.pack}?test_mode=true`, packBody, 200)
    await refApi('PUT', `/payments/stripe/projects/${p.refId}/plans/${plan.price}?test_mode=true`, planBody)
    await refApi('PUT', `/payments/stripe/projects/${p.refId}/packages/${prices.pack}?test_mode=true`, packBody)
  })
  await local.idle()
  const history = new Map(projects.map((p) => [p.index, receiver.bodies.get(String(p.index)) ?? []]))
  // What each project's history grants, by the rules, from its events alone.
  const creditHistories = new Map<number, HistoryCredits>(projects.filter((p) => p.credits).map((p) => [p.index, historyCredits(history.get(p.index) ?? [], plans.get(p.index) ?? null)]))
  const totalEvents = [...history.values()].reduce((n, b) => n + b.length, 0)
  t.comment(`history: ${totalEvents} events for ${PROJECTS} projects in ${Date.now() - started} ms`)

  t.comment(`generation done at ${Date.now() - started} ms`)
  // The in-order result.
  for (const p of projects) {
    for (const body of history.get(p.index) ?? []) {
      const res = await ref.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/webhooks/${p.refId}/test`, payload: body, headers: { 'content-type': 'application/json', 'stripe-signature': signed(body, p.refSecret) } })
      if (res.statusCode !== 200) throw new Error(`in-order delivery failed: ${res.statusCode} ${res.body}`)
    }
  }

  t.comment(`in-order reference done at ${Date.now() - started} ms`)
  // 1–5 copies of every event, shuffled across projects.
  const deliveries: Delivery[] = []
  const distinct = new Set<string>()
  for (const p of projects) {
    for (const body of history.get(p.index) ?? []) {
      const eventId = (JSON.parse(body) as { id: string }).id
      const key = `${p.id}:${eventId}`
      distinct.add(key)
      const copies = 1 + Math.floor(random() * 5)
      for (let i = 0; i < copies; i++) deliveries.push({ key, projectId: p.id, secret: p.secret, body, eventId })
    }
  }
  shuffle(deliveries, random)
  // A refund sent before every event that grants its purchase is kept until the grant, then applied.
  const firstSent = new Map<string, number>()
  deliveries.forEach((d, i) => { if (!firstSent.has(d.key)) firstSent.set(d.key, i) })
  let refundsSentFirst = 0
  for (const p of projects) {
    for (const purchase of creditHistories.get(p.index)?.purchases ?? []) {
      const grantSent = Math.min(...purchase.grantEvents.map((e) => firstSent.get(`${p.id}:${e}`) ?? Infinity))
      refundsSentFirst += purchase.refundEvents.filter((e) => (firstSent.get(`${p.id}:${e}`) ?? Infinity) < grantSent).length
    }
  }

  // The developer's dashboard stats, read from every instance while the events arrive (so each holds
  // month rows, sums and texts that the load then changes) and once more at the end, when they must
  // equal the in-order reference's. The range ends on the last day of the history's last month, so
  // that month counts as whole: its per-project sums are held by the developer rows' fingerprint.
  const [span] = await queryRows<{ last: string }>(ref.app.db, sql`select coalesce(max(day), current_date)::text as last from stats_daily`)
  const lastDay = new Date(Date.parse(`${(span?.last ?? '').slice(0, 7)}-01T00:00:00Z`))
  lastDay.setUTCMonth(lastDay.getUTCMonth() + 1, 0)
  const firstDay = new Date(lastDay)
  firstDay.setUTCMonth(firstDay.getUTCMonth() - 11, 1)
  const statsPath = `/payments/stats?test_mode=true&from=${firstDay.toISOString().slice(0, 10)}&to=${lastDay.toISOString().slice(0, 10)}`
  const dashboard = (stats: Record<string, unknown>) => ({
    ...stats,
    projects: (stats.projects as Array<Record<string, unknown>>).map(({ project_id: _id, ...rest }) => rest),
  })
  const expectedStats = dashboard(await refApi('GET', statsPath, undefined))
  let reading = true
  let dashboardReads = 0
  const readDashboards = async () => {
    while (reading) {
      for (const instance of instances) {
        const res = await fetch(`${instance.url}/api/v1${statsPath}`, { headers }).catch(() => undefined)
        if (res) { await res.arrayBuffer(); dashboardReads++ }
      }
      await sleep(100)
    }
  }
  const dashboardReader = readDashboards()

  const counters = newCounters(deliveries.length)
  const faults: string[] = []
  const progress = async (fraction: number) => {
    while (counters.done < deliveries.length * fraction && counters.done < deliveries.length) await sleep(20)
  }
  const injectFaults = async () => {
    await progress(0.15)
    for (let round = 0; round < 3; round++) {
      const killed = await db.admin`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where datname = ${db.name} and pid <> pg_backend_pid()`
      faults.push(`pg_terminate_backend: ${Number(killed[0]?.n ?? 0)} connections`)
      await sleep(150)
    }
    await progress(0.35)
    const victim = instances[1] as Instance
    await victim.kill('SIGKILL')
    faults.push(`SIGKILL ${victim.name}`)
    await sleep(500)
    await victim.start()
    faults.push(`${victim.name} restarted`)
    await progress(0.6)
    const restart = restartPostgres()
    if (restart.restarted) {
      await waitForPostgres()
      faults.push(`Postgres restarted (${restart.ms} ms)`)
    } else {
      t.comment(`Postgres restart skipped: ${restart.reason}`)
      faults.push(`Postgres restart skipped: ${restart.reason}`)
    }
  }
  const loadStarted = Date.now()
  const [sent] = await Promise.all([
    sendAll(deliveries, instances, counters, { concurrency: 24, maxAttempts: 40, onBody: (body) => responses.push(body) }),
    injectFaults(),
  ])
  const loadMs = Date.now() - loadStarted
  reading = false
  await dashboardReader

  // What the database says.
  const recorded = await queryRows<{ project_id: string, id: string, status: string, attempts: number }>(observer.app.db, sql`select project_id::text as project_id, id, status, attempts from webhook_events`)
  const recordedKeys = new Map(recorded.map((r) => [`${r.project_id}:${r.id}`, r]))
  const lost = [...distinct].filter((k) => { const r = recordedKeys.get(k); return !r || r.status === 'failed' })
  const unexpected = recorded.filter((r) => !distinct.has(`${r.project_id}:${r.id}`))
  const doubledAnswers = [...sent.applied.entries()].filter(([, n]) => n > 1)
  const retriedAfterFailure = recorded.filter((r) => Number(r.attempts) > 1).length

  let differing = 0
  for (const p of projects) {
    const got = await projectSnapshot(observer.app, p.id)
    const expected = await projectSnapshot(ref.app, p.refId)
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      differing++
      if (differing <= 2) {
        t.same(got, expected, `project ${p.index}: the same state as in order`)
        const retried = await queryRows(observer.app.db, sql`select id, type, status, attempts, error from webhook_events where project_id = ${p.id} and attempts > 1`)
        t.comment(`project ${p.index}: events taken more than once: ${JSON.stringify(retried)}`)
      }
    }
  }
  const drift = (await recomputeStats(observer.app.db, { check: true })).drift
  const refDrift = (await recomputeStats(ref.app.db, { check: true })).drift

  // Credits: every grant of the history made once (one lot, one grant entry), none made that it does not
  // name, every wallet as in order and as the rules say, the ledger adding up to each wallet.
  let lotsLost = 0
  let lotsUnexpected = 0
  let grantsDoubled = 0
  let creditsDiffering = 0
  let creditsNotByRules = 0
  let lotsChecked = 0
  const inconsistent: Array<Record<string, unknown>> = []
  for (const p of projects) {
    const got = await creditSnapshot({ app: observer.app }, p.id)
    const expected = await creditSnapshot({ app: ref.app }, p.refId)
    inconsistent.push(...await walletConsistency({ app: observer.app }, p.id))
    grantsDoubled += got.lots.filter((l) => l.grants !== 1).length
    lotsChecked += got.lots.length
    const rules = creditHistories.get(p.index)?.lots ?? []
    const sources = new Set(got.lots.map((l) => l.source))
    lotsLost += rules.filter((l) => !sources.has(l.source)).length
    lotsUnexpected += got.lots.filter((l) => !rules.some((r) => r.source === l.source)).length
    const asRules = got.lots.map(({ end_user_id, source, bucket, granted, remaining, taken_back }) => ({ end_user_id, source, bucket, granted, remaining, taken_back }))
    if (JSON.stringify(asRules) !== JSON.stringify(rules)) {
      creditsNotByRules++
      if (creditsNotByRules <= 2) t.same(asRules, rules, `project ${p.index}: the lots the history grants by the rules`)
    }
    if (JSON.stringify(got) !== JSON.stringify(expected)) {
      creditsDiffering++
      if (creditsDiffering <= 2) t.same(got, expected, `project ${p.index}: the same credits as in order`)
    }
  }
  const creditCheck = await recomputeCredits(observer.app.db, { check: true })
  const refCreditDrift = (await recomputeCredits(ref.app.db, { check: true })).drift
  const historyGrants = [...creditHistories.values()]
  const creditPurchases = historyGrants.flatMap((h) => h.purchases)
  const creditRefunds = creditPurchases.filter((c) => c.refunded > 0)

  const table: Array<[string, string | number]> = [
    ['projects', PROJECTS],
    ['events (distinct)', distinct.size],
    ['deliveries sent (1–5 copies each)', sent.deliveries],
    ['HTTP attempts', sent.attempts],
    ['delivered (2xx)', sent.ok],
    ['answered 5xx (retried)', sent.serverErrors],
    ['connection errors (retried)', sent.connectionErrors],
    ['answered 4xx', sent.clientErrors],
    ['gave up after retries', sent.gaveUp],
    ['recorded', recorded.length],
    ['duplicates dropped (2xx duplicate)', sent.duplicates],
    ['recorded after a failed attempt', retriedAfterFailure],
    ['lost', lost.length],
    ['doubled (applied twice)', doubledAnswers.length],
    ['projects differing from in-order', differing],
    ['stats drift rows (recompute)', drift.length],
    ['projects with credits', creditHistories.size],
    ['credit purchases (of them by payment intent alone)', `${creditPurchases.length} (${creditPurchases.filter((c) => c.grantEvents.length === 1).length})`],
    ['plan periods paid, trials', `${historyGrants.reduce((n, h) => n + h.invoices, 0)}, ${historyGrants.reduce((n, h) => n + h.trials, 0)}`],
    ['refunded purchases (partly, fully)', `${creditRefunds.length} (${creditRefunds.filter((c) => c.refunded < c.paid).length}, ${creditRefunds.filter((c) => c.refunded >= c.paid).length})`],
    ['charge.refunded of purchases (sent before the grant)', `${creditRefunds.reduce((n, c) => n + c.refundEvents.length, 0)} (${refundsSentFirst})`],
    ['credit lots (ledger entries checked)', `${lotsChecked} (${creditCheck.entries})`],
    ['grants lost, made without a source, doubled', `${lotsLost}, ${lotsUnexpected}, ${grantsDoubled}`],
    ['projects whose credits differ from in-order', creditsDiffering],
    ['projects whose lots differ from the rules', creditsNotByRules],
    ['credits drift rows (recompute)', creditCheck.drift.length],
    ['instance crashes (unplanned, restarted)', instances.reduce((n, i) => n + i.exits.length, 0)],
    ['faults injected', faults.filter((f) => !f.includes('skipped')).length],
    ['load time', `${(loadMs / 1000).toFixed(1)} s (${Math.round(sent.attempts / (loadMs / 1000))} req/s)`],
    ['whole test', `${((Date.now() - started) / 1000).toFixed(1)} s`],
  ]
  const width = Math.max(...table.map(([k]) => k.length))
  const printed = ['reliability: three instances, one Postgres', ...table.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ...faults.map((f) => `  fault: ${f}`)].join('\n')
  console.log(printed)
  t.comment(printed)

  const exits = instances.flatMap((i) => i.exits.map((e) => `${i.name} ${e}`))
  t.same(exits, [], 'no instance died on its own (postgres.js 3.4.9, patched: nextWrite on a closed socket, porsager/postgres#1154, #1208; the dropped type fetch, #1192)')
  t.equal(sent.clientErrors, 0, `no delivery answered 4xx ${sent.clientErrorSamples.join(' | ')}`)
  t.equal(sent.gaveUp, 0, 'every delivery eventually answered 2xx')
  t.equal(lost.length, 0, 'no event lost')
  t.equal(doubledAnswers.length, 0, 'no event applied twice (one non-duplicate 2xx per event)')
  t.equal(unexpected.length, 0, 'nothing recorded that was not sent')
  t.equal(recorded.length, distinct.size, 'every event recorded once')
  t.equal(differing, 0, 'every project equals the in-order result')
  t.same(drift, [], 'stats equal stats:recompute')
  t.same(refDrift, [], 'the in-order reference equals stats:recompute too')
  t.equal(lotsLost, 0, 'every grant the history names was made')
  t.equal(lotsUnexpected, 0, 'no grant the history does not name')
  t.equal(grantsDoubled, 0, 'every lot granted once (one grant entry each)')
  t.equal(creditsDiffering, 0, 'every project\'s wallets, lots, ledger sums and pending refunds equal the in-order result')
  t.equal(creditsNotByRules, 0, 'every lot holds what the rules say its history grants')
  t.same(inconsistent, [], 'every wallet equals its last ledger entry and its lots')
  t.same(creditCheck.drift, [], 'credits:recompute --check finds no drift')
  t.same(refCreditDrift, [], 'nor on the in-order reference')
  t.ok(refundsSentFirst > 0, `${refundsSentFirst} refunds sent before their purchase's grant`)
  t.ok(dashboardReads > 0, `${dashboardReads} dashboard reads during the load (${statsPath})`)
  for (const instance of instances) {
    t.same(dashboard(await api(instance.url, 'GET', statsPath, undefined, 200)), expectedStats, `${instance.name}: the dashboard equals the in-order one, whatever it held from reads during the load`)
  }
  t.ok(faults.some((f) => f.startsWith('SIGKILL')) && faults.some((f) => f.startsWith('pg_terminate')), 'faults were injected')

  // Secrets: no log line of any instance or app and no response body carries a key or signing secret.
  const secrets = [
    ...projects.flatMap((p) => [p.account.test.secret_key, p.account.test.restricted_key, p.secret, p.refSecret]),
    ENCRYPTION_KEY, JWT_SECRET,
  ]
  const texts = [...instances.flatMap((i) => i.logs), ...appLogs, ...responses]
  const leaks = secrets.filter((s) => texts.some((text) => text.includes(s)))
  t.equal(leaks.length, 0, `no secret in ${texts.length} log lines and responses`)
  const errorsLogged = instances.flatMap((i) => i.logs).filter((l) => l.includes('"level":50')).length
  t.comment(`log lines: ${instances.reduce((n, i) => n + i.logs.length, 0)} from the instances (${errorsLogged} at error level, expected during faults), ${appLogs.length} from the in-process apps`)
})
