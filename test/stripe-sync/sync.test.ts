import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { unixNow } from '../../src/platform/time.ts'
import { HANDLED_EVENT_TYPES } from '../../src/webhooks/registry.ts'
import { parseSyncArgs, runStripeSync } from '../../src/jobs/stripe-sync.ts'
import type { LocalAccount, StripeLocal } from '../../stripe-local/index.ts'
import { freePort, generateHistory, historyReceiver, type CreditsShape, type HistoryPrices } from '../reliability/helpers/harness.ts'
import {
  assertProblem, buildTestApp, configureStripe, createProject, newDeveloper, startLocalStripe, testDatabase, type Developer,
} from '../helpers/app.ts'
import { creditSnapshot, walletConsistency } from '../helpers/credits.ts'
import { postEvent, projectSnapshot, signed } from '../helpers/webhooks.ts'

/**
 * Resync after missed webhooks: projects whose endpoint was down while a generated history ran at the
 * local Stripe server are synced, and end equal to a reference project that received every event.
 */

const CREDITS: CreditsShape = { packCredits: 120, expiresInDays: null, planSubscribers: 2, renewals: 2, purchases: 2 }

interface World {
  local: StripeLocal
  app: FastifyInstance
  baseUrl: string
  account: LocalAccount
  dev: Developer
  prices: HistoryPrices
  /** The history's signed bodies, in the order they were sent. */
  bodies: string[]
  /** A project that received every event of the history. */
  reference: string
}

interface SyncView {
  sync_id: string, status: string, phase: string, outcome?: string, error: string | null,
  progress: { events_listed: number, events_applied: number, events_skipped: number, events_failed: number, failed_deliveries_replayed: number, objects_applied: number, stripe_reads: number, rate_limited: number }
}

async function catalog (app: FastifyInstance, dev: Developer, projectId: string, prices: HistoryPrices): Promise<void> {
  const calls = [
    { url: `/api/v1/payments/stripe/projects/${projectId}/plans/${prices.plan ?? ''}?test_mode=true`, payload: { credits_per_period: 60, trial_credits: 20, rollover: false, name: 'Credits plan' } },
    { url: `/api/v1/payments/stripe/projects/${projectId}/packages/${prices.pack}?test_mode=true`, payload: { credits: CREDITS.packCredits, name: 'Credits pack' } },
  ]
  for (const call of calls) {
    const res = await app.inject({ method: 'PUT', headers: dev.headers, ...call })
    if (res.statusCode !== 200) throw new Error(`catalog: ${res.statusCode} ${res.body}`)
  }
}

/** A project on the world's Stripe account with its managed webhook endpoint; `delivery: false` turns that endpoint off at stripe-local. */
async function missingProject (w: Pick<World, 'app' | 'local' | 'account' | 'dev'>, delivery: boolean): Promise<{ id: string, endpoint: string }> {
  const project = await createProject(w.app, w.dev, `synced-${randomUUID().slice(0, 8)}`)
  await configureStripe(w.app, w.dev, project.id, { secret_key: w.account.test.secret_key, publishable_key: w.account.test.publishable_key })
  const res = await w.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/webhook-endpoint?test_mode=true`, headers: w.dev.headers })
  if (res.statusCode !== 200) throw new Error(`webhook-endpoint: ${res.statusCode} ${res.body}`)
  const endpoint = res.json<{ webhook_endpoint_id: string }>().webhook_endpoint_id
  if (!delivery) w.local.setEndpointDelivery(endpoint, false)
  return { id: project.id, endpoint }
}

/** A project that receives `bodies` (re-signed with its own secret) one by one, in order. */
async function referenceProject (app: FastifyInstance, dev: Developer, account: LocalAccount): Promise<{ id: string, deliver (bodies: string[]): Promise<void> }> {
  const project = await createProject(app, dev, 'reference')
  const secret = `whsec_ref${randomUUID().replaceAll('-', '')}`
  await configureStripe(app, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: secret })
  return {
    id: project.id,
    async deliver (bodies) {
      for (const body of bodies) {
        const res = await postEvent(app, project.id, body, signed(body, secret))
        if (res.statusCode !== 200) throw new Error(`reference delivery: ${res.statusCode} ${res.body}`)
      }
    },
  }
}

async function startSync (app: FastifyInstance, dev: Developer, projectId: string, payload: Record<string, unknown> = {}, mode = 'test'): Promise<SyncView> {
  const res = await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${projectId}/sync?test_mode=${mode === 'test'}`, headers: dev.headers, payload })
  if (res.statusCode !== 202) throw new Error(`sync: ${res.statusCode} ${res.body}`)
  return res.json<SyncView>()
}

async function syncStatus (app: FastifyInstance, dev: Developer, projectId: string, syncId: string): Promise<SyncView> {
  const res = await app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${projectId}/sync/${syncId}`, headers: dev.headers })
  if (res.statusCode !== 200) throw new Error(`sync status: ${res.statusCode} ${res.body}`)
  return res.json<SyncView>()
}

async function finished (app: FastifyInstance, dev: Developer, projectId: string, syncId: string, timeoutMs = 90_000): Promise<SyncView> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const view = await syncStatus(app, dev, projectId, syncId)
    if (view.status !== 'running') return view
    if (Date.now() > until) throw new Error(`sync ${syncId} still running: ${JSON.stringify(view)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function eventRows (app: FastifyInstance, projectId: string): Promise<Array<{ id: string, status: string, attempts: number }>> {
  return queryRows(app.db, sql`select id, status, attempts from webhook_events where project_id = ${projectId} order by id`)
}

async function syncRows (app: FastifyInstance, projectId: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from stripe_syncs where project_id = ${projectId}`)
  return Number(row?.n ?? 0)
}

/** Handled events of the history (what a sync lists: it asks Stripe for the handled types only). */
const handledIds = (bodies: string[]): Set<string> => new Set(bodies.map((b) => JSON.parse(b) as { id: string, type: string })
  .filter((e) => (HANDLED_EVENT_TYPES as string[]).includes(e.type)).map((e) => e.id))

async function sameState (t: Test, app: FastifyInstance, projectId: string, reference: string, what: string): Promise<void> {
  t.same(await projectSnapshot(app, projectId), await projectSnapshot(app, reference), `${what}: subscriptions, transactions and stats equal the reference's`)
  t.same(await creditSnapshot({ app }, projectId), await creditSnapshot({ app }, reference), `${what}: wallets, lots and ledger equal the reference's`)
  t.same(await walletConsistency({ app }, projectId), [], `${what}: every wallet adds up`)
}

let world: Promise<World> | undefined
/** One history for the file's tests: its projects all use the same Stripe account, each with its own endpoint. */
function sharedWorld (t: Test): Promise<World> {
  world ??= (async () => {
    const local = await startLocalStripe(t)
    const port = await freePort()
    const baseUrl = `http://127.0.0.1:${port}`
    const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url, PUBLIC_BASE_URL: baseUrl } })
    await app.listen({ port, host: '127.0.0.1' })
    const account = await local.createAccount()
    const dev = newDeveloper()
    return { local, app, baseUrl, account, dev, prices: { pack: '', plan: null }, bodies: [], reference: '' }
  })()
  return world
}

/** Projects that exist (endpoint off) while the history runs; created by the first test that needs them. */
const offline: Array<{ id: string, endpoint: string }> = []
let history: Promise<void> | undefined
async function withHistory (t: Test): Promise<World> {
  const w = await sharedWorld(t)
  history ??= (async () => {
    for (let i = 0; i < 5; i++) offline.push(await missingProject(w, false))
    const receiver = await historyReceiver()
    t.teardown(() => receiver.close())
    w.prices = await generateHistory(w.local, w.account, receiver.url('history'), 7, { subscribers: 4, oneTime: 3, credits: CREDITS })
    await w.local.idle()
    w.bodies = receiver.bodies.get('history') ?? []
    const ref = await referenceProject(w.app, w.dev, w.account)
    for (const p of [...offline.map((o) => o.id), ref.id]) await catalog(w.app, w.dev, p, w.prices)
    await ref.deliver(w.bodies)
    w.reference = ref.id
  })()
  await history
  return w
}

// Several histories synced in turn: longer than tap's 120 s per file on a busy machine or on PGlite.
t.setTimeout(480_000)

// The outer test owns the shared world (its teardown closes the app and the local server).
t.test('resync', { timeout: 470_000 }, async (outer) => {
  await testDatabase()

  outer.test('a project that missed every webhook, synced, equals one that received them all', async (t) => {
    const w = await withHistory(outer)
    const [project] = offline
    if (!project) throw new Error('no project')
    t.same(await eventRows(w.app, project.id), [], 'the endpoint was down: nothing arrived')
    const handled = handledIds(w.bodies)
    t.ok(handled.size > 40, `the history has ${handled.size} handled events`)

    const started = await startSync(w.app, w.dev, project.id)
    t.equal(started.outcome, 'started')
    const again = await startSync(w.app, w.dev, project.id)
    t.equal(again.outcome, 'already_running', 'a second request answers the running sync')
    t.equal(again.sync_id, started.sync_id)

    const done = await finished(w.app, w.dev, project.id, started.sync_id)
    t.equal(done.status, 'succeeded', JSON.stringify(done))
    t.equal(done.phase, 'done')
    t.equal(done.progress.failed_deliveries_replayed, handled.size, 'every failed delivery replayed first')
    t.equal(done.progress.events_applied, handled.size, 'each handled event applied once')
    t.equal(done.progress.events_skipped, handled.size, 'the events list then found every one recorded')
    t.equal(done.progress.events_failed, 0)
    t.ok(done.progress.stripe_reads > 0)
    const rows = await eventRows(w.app, project.id)
    t.same(new Set(rows.map((r) => r.id)), handled, 'exactly the handled events are recorded')
    t.ok(rows.every((r) => r.status === 'processed' && r.attempts === 1), 'each processed once')
    await sameState(t, w.app, project.id, w.reference, 'synced')

    const second = await startSync(w.app, w.dev, project.id)
    t.equal(second.outcome, 'started', 'a finished sync does not block the next')
    const idle = await finished(w.app, w.dev, project.id, second.sync_id)
    t.equal(idle.status, 'succeeded')
    t.equal(idle.progress.events_applied, 0, 'a second sync applies nothing')
    t.equal(idle.progress.events_skipped, handled.size * 2)
    await sameState(t, w.app, project.id, w.reference, 'synced twice')
  })

  outer.test('an interrupted sync resumes where it stopped, and no event is applied twice', async (t) => {
    const w = await withHistory(outer)
    const project = offline[1]
    if (!project) throw new Error('no project')
    const handled = handledIds(w.bodies)
    // Another instance on the same database runs the sync and shuts down in the middle of it.
    const other = await buildTestApp(t, { env: { STRIPE_API_BASE: w.local.url, PUBLIC_BASE_URL: w.baseUrl } })
    const started = await startSync(other, w.dev, project.id)
    for (;;) {
      const n = (await eventRows(w.app, project.id)).length
      if (n >= 10) break
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await other.close()
    const stopped = await syncStatus(w.app, w.dev, project.id, started.sync_id)
    t.equal(stopped.status, 'interrupted', 'saved as interrupted when its instance closed')
    const before = (await eventRows(w.app, project.id)).length
    t.ok(before < handled.size, `stopped after ${before} of ${handled.size} events`)

    const resumed = await startSync(w.app, w.dev, project.id, { full: true })
    t.equal(resumed.outcome, 'resumed', 'the next request resumes it')
    t.equal(resumed.sync_id, started.sync_id, 'the same sync')
    const done = await finished(w.app, w.dev, project.id, started.sync_id)
    t.equal(done.status, 'succeeded', JSON.stringify(done))
    t.equal(done.progress.events_applied, handled.size, 'applied once each across both runs')
    const rows = await eventRows(w.app, project.id)
    t.equal(rows.length, handled.size)
    t.ok(rows.every((r) => r.status === 'processed' && r.attempts === 1), 'no event recorded twice')
    await sameState(t, w.app, project.id, w.reference, 'resumed')
  })

  outer.test('a 429 from Stripe is waited out and the sync completes', async (t) => {
    const w = await withHistory(outer)
    const project = offline[2]
    if (!project) throw new Error('no project')
    w.local.rateLimit(w.account.account_id, 3, 1)
    const started = Date.now()
    const sync = await startSync(w.app, w.dev, project.id)
    const done = await finished(w.app, w.dev, project.id, sync.sync_id)
    t.equal(done.status, 'succeeded', JSON.stringify(done))
    t.equal(done.progress.rate_limited, 3, 'three 429s, each retried')
    t.ok(Date.now() - started >= 2_900, 'after waiting Retry-After each time')
    await sameState(t, w.app, project.id, w.reference, 'after 429s')
  })

  outer.test('full rebuilds subscriptions and payments from the object lists', async (t) => {
    const w = await withHistory(outer)
    const project = offline[3]
    if (!project) throw new Error('no project')
    // From now: the events list holds nothing newer, so only the object lists can bring the history back.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const sync = await startSync(w.app, w.dev, project.id, { full: true, since: new Date().toISOString() })
    const done = await finished(w.app, w.dev, project.id, sync.sync_id)
    t.equal(done.status, 'succeeded', JSON.stringify(done))
    t.equal(done.progress.events_applied, 0, 'no event was replayed')
    t.ok(done.progress.objects_applied > 20, `${done.progress.objects_applied} object states applied`)
    t.same(await eventRows(w.app, project.id), [], 'object states are not recorded as events')
    const mine = await projectSnapshot(w.app, project.id)
    const ref = await projectSnapshot(w.app, w.reference)
    t.same(mine.subscriptions, ref.subscriptions, 'subscriptions equal the reference\'s')
    t.same(mine.current, ref.current, 'subscription counts and MRR equal the reference\'s')
    // Checkout sessions are not among the lists walked, and a failed attempt a later success replaced is in no object.
    const payments = (rows: Array<Record<string, unknown>>) => rows.filter((r) => r.stripe_payment_intent_id !== null)
      .map((r) => ({ pi: r.stripe_payment_intent_id, invoice: r.stripe_invoice_id, kind: r.kind, status: r.status, amount: r.amount, refunded: r.amount_refunded, currency: r.currency, succeeded_at: r.succeeded_at }))
    t.same(payments(mine.transactions), payments(ref.transactions), 'payments and refunds equal the reference\'s')
    const money = (rows: Array<Record<string, unknown>>) => rows.map((r) => ({ day: r.day, currency: r.currency, gross: r.gross, refunded: r.refunded, succeeded: r.succeeded_count }))
    t.same(money(mine.daily), money(ref.daily), 'daily gross, refunds and payments equal the reference\'s')
    // A trial that is over is in no object's state any more: its credits (all spent or expired) are not granted again.
    const creditsOf = async (id: string) => {
      const snapshot = await creditSnapshot({ app: w.app }, id)
      return {
        wallets: snapshot.wallets.map((x) => ({ end_user_id: x.end_user_id, monthly: x.monthly, purchased: x.purchased, debt: x.debt })),
        lots: snapshot.lots.filter((l) => !(l.source.startsWith('trial:') && l.remaining === 0)).map((l) => ({ source: l.source, granted: l.granted, remaining: l.remaining })),
      }
    }
    t.same(await creditsOf(project.id), await creditsOf(w.reference), 'wallets and credit lots equal the reference\'s')
    t.same(await walletConsistency({ app: w.app }, project.id), [])

    const again = await startSync(w.app, w.dev, project.id, { full: true, since: new Date().toISOString() })
    t.equal((await finished(w.app, w.dev, project.id, again.sync_id)).status, 'succeeded')
    t.same(await projectSnapshot(w.app, project.id), mine, 'a second full sync changes nothing')
  })

  outer.test('npm run stripe:sync runs the same sync in the process', async (t) => {
    const w = await withHistory(outer)
    const project = offline[4]
    if (!project) throw new Error('no project')
    t.throws(() => parseSyncArgs(['--project', 'nope', '--mode', 'test']), { name: 'UsageError' })
    t.throws(() => parseSyncArgs(['--project', project.id, '--mode', 'staging']), { name: 'UsageError' })
    t.throws(() => parseSyncArgs(['--project', project.id, '--mode', 'test', '--bogus']), { name: 'UsageError' })
    const args = parseSyncArgs(['--project', project.id.toUpperCase(), '--mode', 'test', '--since', '2026-01-01', '--full'])
    t.same(args, { project: project.id, mode: 'test', since: '2026-01-01', full: true })
    const lines: string[] = []
    const row = await runStripeSync(w.app, { project: project.id, mode: 'test', full: false }, (line) => lines.push(line), 100)
    t.equal(row.status, 'succeeded')
    t.match(lines[0], /started/)
    t.match(lines.at(-1), /succeeded done/)
    await sameState(t, w.app, project.id, w.reference, 'synced by the command')
    t.notOk(lines.join('\n').includes(w.account.test.secret_key), 'no key printed')
  })

  outer.test('a sync while webhooks still arrive doubles nothing', async (t) => {
    const w = await sharedWorld(outer)
    const account = await w.local.createAccount()
    const live = { ...w, account }
    const project = await missingProject(live, true)
    const receiver = await historyReceiver()
    t.teardown(() => receiver.close())
    const running = generateHistory(w.local, account, receiver.url('live'), 11, { subscribers: 3, oneTime: 3 })
    const syncs: SyncView[] = []
    let generated = false
    void running.then(() => { generated = true }, () => { generated = true })
    // Syncs one after another while the history runs and its webhooks arrive.
    while (!generated) {
      const s = await startSync(w.app, w.dev, project.id)
      syncs.push(await finished(w.app, w.dev, project.id, s.sync_id))
    }
    await running
    const last = await startSync(w.app, w.dev, project.id)
    syncs.push(await finished(w.app, w.dev, project.id, last.sync_id))
    await w.local.idle()
    t.ok(syncs.every((s) => s.status === 'succeeded'), `${syncs.length} syncs succeeded`)
    const ref = await referenceProject(w.app, w.dev, account)
    await ref.deliver(receiver.bodies.get('live') ?? [])
    const rows = await eventRows(w.app, project.id)
    t.ok(rows.every((r) => r.status === 'processed' || r.status === 'ignored'), 'every event settled')
    t.same(await projectSnapshot(w.app, project.id), await projectSnapshot(w.app, ref.id), 'subscriptions, transactions and stats equal the reference\'s')
    t.same(await creditSnapshot({ app: w.app }, project.id), await creditSnapshot({ app: w.app }, ref.id), 'credits equal the reference\'s')
  })

  outer.test('bad input is a problem+json 4xx and changes nothing', async (t) => {
    const w = await sharedWorld(outer)
    const project = await missingProject(w, false)
    const post = (payload: Record<string, unknown>, options: { dev?: Developer, mode?: string, projectId?: string } = {}) => w.app.inject({
      method: 'POST', url: `/api/v1/payments/stripe/projects/${options.projectId ?? project.id}/sync?test_mode=${(options.mode ?? 'test') === 'test'}`,
      headers: (options.dev ?? w.dev).headers, payload,
    })
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString()
    assertProblem(t, await post({ since: tomorrow }), 400, 'since_in_future')
    assertProblem(t, await post({ since: new Date((unixNow() + 120) * 1000).toISOString() }), 400, 'since_in_future')
    assertProblem(t, await post({ since: '2999-01-01' }), 400, 'since_in_future')
    assertProblem(t, await post({ since: '2026-02-31' }), 400, 'since_invalid')
    assertProblem(t, await post({ since: 'last tuesday!' }), 400, 'since_invalid')
    assertProblem(t, await post({ since: '2026-11-01T10:00:00' }), 400, 'since_invalid')
    assertProblem(t, await post({ since: 7 }), 400, 'validation_failed')
    assertProblem(t, await post({ full: 'yes' }), 400, 'validation_failed')
    assertProblem(t, await post({ extra: true }), 400, 'validation_failed')
    assertProblem(t, await post({}, { dev: newDeveloper() }), 404, 'not_found')
    assertProblem(t, await post({}, { mode: 'live' }), 409, 'stripe_not_configured')
    assertProblem(t, await post({}, { projectId: randomUUID() }), 404, 'not_found')
    assertProblem(t, await w.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/not-a-uuid/sync`, headers: w.dev.headers, payload: {} }), 400, 'validation_failed')
    assertProblem(t, await w.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/sync`, payload: {} }), 401, 'unauthorized')
    t.equal(await syncRows(w.app, project.id), 0, 'no sync was started')

    const ok = await startSync(w.app, w.dev, project.id)
    await finished(w.app, w.dev, project.id, ok.sync_id)
    assertProblem(t, await w.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${project.id}/sync/${ok.sync_id}`, headers: newDeveloper().headers }), 404, 'not_found')
    assertProblem(t, await w.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${project.id}/sync/${randomUUID()}`, headers: w.dev.headers }), 404, 'not_found')
    const body = (await w.app.inject({ method: 'GET', url: `/api/v1/payments/stripe/projects/${project.id}/sync/${ok.sync_id}`, headers: w.dev.headers })).body
    t.notOk(body.includes(w.account.test.secret_key), 'no key in the view')
  })
})
