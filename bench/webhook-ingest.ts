import { spawnSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import postgres from 'postgres'
import { startStripeLocal, signatureHeader } from '../stripe-local/index.ts'
import { generateHistory, historyReceiver, pool, scratchDatabase, serviceInstance } from '../test/reliability/helpers/harness.ts'
import { percentile, rawHttpServer, runLoad, type RawRequest } from './load.ts'

/**
 * Webhook ingest: realistic signed events (cloned from a history the local Stripe server produced) sent
 * by a closed-loop load generator (bench/load.ts) to the real HTTP server on a Postgres database, for one project and spread over 1,000;
 * then pgbench running the same statements as bare SQL on the same database, and the ratio.
 *
 * Invoice events need their payment intent, which the current API's payload does not carry: the
 * service reads the invoice from Stripe first. Here that read goes to a stub that answers at once
 * (STRIPE_API_BASE), so the figure is the service's own cost, not Stripe's latency.
 */

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 128)
const POOL = Number(process.env.BENCH_POOL ?? 4)
const PGBENCH_SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 10)
const SPREAD = Number(process.env.BENCH_PROJECTS ?? 1000)
/** Service instances on the one database; the generator spreads its connections over them. */
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2)
/** Events per statement in the batched pgbench run (about what the service's batches hold at this load: bench/RESULTS.md). */
const PGBENCH_BATCH = Number(process.env.BENCH_PGBENCH_BATCH ?? 16)
/** Alternated pairs of runs without and with credit grants in the mix (0: none). */
const CREDIT_PAIRS = Number(process.env.BENCH_CREDIT_PAIRS ?? 2)
const MIX: Array<[string, number]> = [['invoice.paid', 40], ['customer.subscription.updated', 25], ['payment_intent.succeeded', 25], ['invoice.payment_failed', 10]]
const ID = /\b(evt|in|sub|pi|ch|cus|cs|py|il|si)_[A-Za-z0-9]{8,}\b/g

export async function templates (): Promise<Map<string, string>> {
  const local = await startStripeLocal({ port: 0 })
  const receiver = await historyReceiver()
  const account = await local.createAccount()
  await generateHistory(local, account, receiver.url('t'), 2, { subscribers: 3, oneTime: 2 })
  await local.idle()
  const found = new Map<string, string>()
  for (const body of receiver.bodies.get('t') ?? []) {
    const event = JSON.parse(body) as { type: string, data: { object: { invoice?: unknown, description?: unknown } } }
    if (event.type === 'payment_intent.succeeded' && event.data.object.description) continue // an invoice's; keep a one-time one
    if (!found.has(event.type)) found.set(event.type, body)
  }
  await receiver.close()
  await local.close()
  return found
}

/**
 * Answers the service's invoice read (expand payments) at once, naming a payment intent derived from
 * the invoice id. A raw-socket responder: the stub stands for Stripe, so its own CPU should not count.
 */
export async function stubStripe (): Promise<{ url: string, reads: () => number, close (): Promise<void> }> {
  let reads = 0
  const server = await rawHttpServer((_method, path) => {
    reads++
    const match = /^\/v1\/invoices\/(in_[A-Za-z0-9_]+)/.exec(path)
    if (!match?.[1]) return { status: 404, body: JSON.stringify({ error: { type: 'invalid_request_error', message: 'not stubbed' } }) }
    const id = match[1]
    return {
      status: 200,
      body: JSON.stringify({
        id, object: 'invoice', payments: { object: 'list', has_more: false, url: '/v1/invoice_payments', data: [{ object: 'invoice_payment', id: `inpay_${id.slice(3)}`, status: 'paid', is_default: true, payment: { type: 'payment_intent', payment_intent: `pi_${id.slice(3)}` } }] },
      }),
    }
  })
  return { url: server.url, reads: () => reads, close: () => server.close() }
}

/** CPU seconds a process has used in user and system (kernel) mode, from /proc; 0 where there is none. */
function cpuTimes (pid: number): { user: number, system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 }
  } catch {
    return { user: 0, system: 0 }
  }
}
const cpuSeconds = (pid: number): number => { const t = cpuTimes(pid); return t.user + t.system }

/** CPU seconds of every PostgreSQL server process on this machine (the backends serving the run, and the WAL writer). */
function postgresCpuSeconds (): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuSeconds(Number(entry))
    } catch {}
  }
  return total
}

export interface Prepared { projectIndex: number, body: string, id: string }

/**
 * With credits, the events name an end user (one of 1,000 per project), every invoice's price is a
 * plan of the project (benchCreditPlans) and every one-time payment is a purchase of 500 credits, so
 * each invoice.paid and payment_intent.succeeded grants a lot: half of the mix writes the ledger.
 */
function withCredits (body: string, i: number, projects: number): string {
  const event = JSON.parse(body) as { type: string, data: { object: Record<string, any> } }
  const object = event.data.object
  const endUser = { end_user_id: `u${Math.floor(i / projects) % 1000}` }
  if (event.type.startsWith('invoice.')) object.parent = { ...object.parent, subscription_details: { ...object.parent?.subscription_details, metadata: endUser } }
  if (event.type === 'payment_intent.succeeded') object.metadata = { ...endUser, transaction_id: randomUUID(), credits: '500' }
  if (event.type === 'customer.subscription.updated') object.metadata = endUser
  return JSON.stringify(event)
}

/** The price of the history's invoices: made a plan of each bench project for the runs with credits. */
export const invoicePriceOf = (tpl: Map<string, string>): string => {
  const invoice = JSON.parse(tpl.get('invoice.paid') ?? '{}') as { data: { object: { lines: { data: Array<{ pricing: { price_details: { price: string } } }> } } } }
  const price = invoice.data.object.lines.data[0]?.pricing.price_details.price
  if (!price) throw new Error('the history\'s invoice names no price')
  return price
}

export function makeEvents (tpl: Map<string, string>, count: number, projects: number, tag: string, credits = false): { list: Prepared[], distinct: number } {
  const weights = MIX.flatMap(([type, w]) => Array.from({ length: w }, () => type))
  const distinctCount = Math.round(count / 1.1)
  const list: Prepared[] = []
  for (let i = 0; i < distinctCount; i++) {
    const type = weights[i % weights.length] as string
    const template = tpl.get(type)
    if (!template) throw new Error(`no ${type} in the history`)
    const suffix = `${tag}${i.toString(36)}`
    const cloned = template.replace(ID, (whole, prefix: string) => `${prefix}_${whole.slice(prefix.length + 1, prefix.length + 9)}${suffix}`)
    const body = credits ? withCredits(cloned, i, projects) : cloned
    list.push({ projectIndex: i % projects, body, id: (JSON.parse(body) as { id: string }).id })
  }
  // 10 % duplicates, each a little after its original (as Stripe's retries and double sends arrive).
  const withDuplicates = [...list]
  for (let i = 0; withDuplicates.length < count; i += 11) {
    const original = list[i % list.length] as Prepared
    withDuplicates.splice(Math.min(withDuplicates.length, i + 50), 0, original)
  }
  return { list: withDuplicates, distinct: list.length }
}

interface Run {
  label: string, events: number, distinct: number, seconds: number, rps: number, p50: number, p99: number, non2xx: number, errors: number, recorded: number,
  /** CPU microseconds per event: the service process (and of that in the kernel), and all of PostgreSQL. */
  serviceCpuUs: number, serviceSystemUs: number, postgresCpuUs: number, generatorCpuUs: number
  /** CPU microseconds per event of the PostgreSQL backends connected to this run's database only (not the WAL writer, nor anyone else's backends on a shared machine). */
  backendCpuUs: number
  /** Transactions the database committed per event (each batch's statement is one; so are the status lookups). */
  commitsPerEvent: number
}

/** The backends connected to this run's database: their pids, to read their CPU from /proc. */
const backendPids = async (db: postgres.Sql): Promise<number[]> =>
  (await db<Array<{ pid: number }>>`select pid from pg_stat_activity where datname = current_database() and backend_type = 'client backend'`).map((r) => Number(r.pid))

const commits = async (db: postgres.Sql): Promise<number> => {
  const [row] = await db<Array<{ n: string }>>`select xact_commit::text as n from pg_stat_database where datname = current_database()`
  return Number(row?.n ?? 0)
}

async function drive (label: string, urls: string[], events: Prepared[], distinct: number, projects: Array<{ id: string, secret: string }>, db: postgres.Sql, servicePids: number[]): Promise<Run> {
  const t = Math.floor(Date.now() / 1000)
  const requests: RawRequest[] = events.map((e) => {
    const project = projects[e.projectIndex] as { id: string, secret: string }
    return { method: 'POST', path: `/api/v1/payments/stripe/webhooks/${project.id}/test`, body: e.body, headers: { 'content-type': 'application/json', 'stripe-signature': signatureHeader(project.secret, t, e.body) } }
  })
  const serviceTimes = () => servicePids.map(cpuTimes).reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system }), { user: 0, system: 0 })
  const commitsBefore = await commits(db)
  const backendsBefore = new Map((await backendPids(db)).map((pid) => [pid, cpuSeconds(pid)]))
  const cpuBefore = { service: serviceTimes(), postgres: postgresCpuSeconds(), generator: cpuSeconds(process.pid) }
  const result = await runLoad(urls, requests, CONNECTIONS)
  const cpuAfter = { service: serviceTimes(), postgres: postgresCpuSeconds(), generator: cpuSeconds(process.pid) }
  // A backend opened during the run counts from 0; one closed during it is lost (the pools keep theirs).
  const backendSeconds = (await backendPids(db)).reduce((n, pid) => n + cpuSeconds(pid) - (backendsBefore.get(pid) ?? 0), 0)
  // pg_stat_database is updated when a backend goes idle, at most every PGSTAT_MIN_INTERVAL (1 s).
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const commitsAfter = await commits(db)
  const ids = [...new Set(events.map((e) => e.id))]
  const [row] = await db<Array<{ n: number }>>`select count(*)::int as n from webhook_events where id = any(${ids}) and status in ('processed', 'ignored')`
  const seconds = result.elapsedMs / 1000
  const ok = [...result.statuses].filter(([status]) => status >= 200 && status < 300).reduce((n, [, count]) => n + count, 0)
  return {
    label, events: requests.length, distinct, seconds, rps: ok / seconds, p50: percentile(result.latencies, 50), p99: percentile(result.latencies, 99),
    non2xx: result.sent - ok - result.errors, errors: result.errors, recorded: Number(row?.n ?? 0),
    serviceCpuUs: ((cpuAfter.service.user + cpuAfter.service.system - cpuBefore.service.user - cpuBefore.service.system) / requests.length) * 1e6,
    serviceSystemUs: ((cpuAfter.service.system - cpuBefore.service.system) / requests.length) * 1e6,
    postgresCpuUs: ((cpuAfter.postgres - cpuBefore.postgres) / requests.length) * 1e6,
    generatorCpuUs: ((cpuAfter.generator - cpuBefore.generator) / requests.length) * 1e6,
    backendCpuUs: (backendSeconds / requests.length) * 1e6,
    commitsPerEvent: (commitsAfter - commitsBefore - 1) / requests.length,
  }
}

function runPgbench (dbUrl: string, script: string, clients: number, vars: Record<string, string>): { tps: number, output: string } {
  const out = spawnSync('pgbench', ['-n', '-r', '-c', String(clients), '-j', '2', '-T', String(PGBENCH_SECONDS), '-M', 'prepared', '-f', script,
    ...Object.entries(vars).flatMap(([k, v]) => ['-D', `${k}=${v}`]), dbUrl], { encoding: 'utf8', timeout: (PGBENCH_SECONDS + 30) * 1000 })
  const output = `${out.stdout}${out.stderr}`
  return { tps: Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? 0), output }
}

/**
 * The same work for PGBENCH_BATCH events per round trip, as the service's batches send it: one read
 * (each event's status and its rows by invoice and payment intent) and one write (the events, their
 * transactions and one summed stats upsert), prepared. Answers events/s.
 */
function pgbenchBatched (dbUrl: string, projectId: string, developerId: string): { tps: number, output: string } {
  const script = join(mkdtempSync(join(tmpdir(), 'pgbench-')), 'batch.sql')
  writeFileSync(script, `\\set k random(1, 2000000000)
select k.i, (select w.status from webhook_events w where w.project_id = :p::uuid and w.mode = 'test' and w.id = k.e) as event_status, (select json_agg(r order by r.created_at, r.id) from (select t.*, t.xmin::text as version from transactions t where t.project_id = :p::uuid and t.mode = 'test' and t.stripe_payment_intent_id = k.pi union select t.*, t.xmin::text as version from transactions t where t.project_id = :p::uuid and t.mode = 'test' and t.stripe_invoice_id = k.inv) r) as rows from (select g as i, 'evt_pgbb_' || :k || '_' || :client_id || '_' || g as e, 'pib_' || :k || '_' || :client_id || '_' || g as pi, 'inb_' || :k || '_' || :client_id || '_' || g as inv from generate_series(1, :n) g) k;
with ev as (select g, 'evt_pgbb_' || :k || '_' || :client_id || '_' || g as id, 'pib_' || :k || '_' || :client_id || '_' || g as pi, 'inb_' || :k || '_' || :client_id || '_' || g as inv, (select payload from bench_payload) as payload from generate_series(1, :n) g), go as (insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload, processed_at) select :p::uuid, 'test', ev.id, 'invoice.paid', 'processed', 1, null, 1795000000::bigint, ev.payload, now() from ev on conflict (project_id, mode, id) do update set status = excluded.status, attempts = webhook_events.attempts + 1, error = null, processed_at = now() where webhook_events.status = 'failed' returning 1), rec as (select webhook_write_conflict_unless((select count(*) from go) = :n, 'bench') as ok), w as (insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id, stripe_payment_intent_id, stripe_invoice_id, stripe_subscription_id, last_event_at, succeeded_at) select :d, :p::uuid, 'test', 'user-1', 'invoice', 'succeeded', 2000, 0, 'usd', '1 x Pro plan', 'cus_x', ev.pi, ev.inv, 'sub_x', 1795000000, now() from ev where (select ok from rec) returning 1), s0 as (insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions) select :d, :p::uuid, 'test', current_date, 'usd', :client_id % 8, 2000 * :n, 0, :n, 0, 0, 0 where (select ok from rec) on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross, succeeded_count = stats_daily.succeeded_count + excluded.succeeded_count) select (select ok from rec);
`)
  const run = runPgbench(dbUrl, script, 2, { p: projectId, d: developerId, n: String(PGBENCH_BATCH) })
  return { tps: run.tps * PGBENCH_BATCH, output: run.output }
}

function pgbench (dbUrl: string, projectId: string, developerId: string): { tps: number, output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pgbench-'))
  const script = join(dir, 'invoice-paid.sql')
  // The statements the service sends for a first invoice.paid, as prepared statements without a transaction around them:
  // the duplicate check before reading from Stripe, the read (rows by invoice and payment intent, the event's status, the
  // customer's end user), and the one guarded write (event record, transaction insert and sharded stats upsert as CTEs).
  writeFileSync(script, `\\set k random(1, 2000000000)
\\set s random(0, 7)
select status from webhook_events where project_id = :p::uuid and mode = 'test' and id = 'evt_pgb_' || :k || '_' || :client_id;
select (select coalesce(json_agg(r order by r.created_at, r.id), '[]'::json) from (select t.*, t.xmin::text as version from transactions t where t.project_id = :p::uuid and t.mode = 'test' and t.stripe_payment_intent_id = 'pi_' || :k || '_' || :client_id union select t.*, t.xmin::text as version from transactions t where t.project_id = :p::uuid and t.mode = 'test' and t.stripe_invoice_id = 'in_' || :k || '_' || :client_id) r) as rows, (select status from webhook_events where project_id = :p::uuid and mode = 'test' and id = 'evt_pgb_' || :k || '_' || :client_id) as event_status, (select end_user_id from customers where project_id = :p::uuid and mode = 'test' and stripe_customer_id = 'cus_x') as customer_end_user;
with guard as (select true as ok), go as (insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload, processed_at) select :p::uuid, 'test', 'evt_pgb_' || :k || '_' || :client_id, 'invoice.paid', 'processed', 1, null, 1795000000::bigint, (select payload from bench_payload), now() where (select ok from guard) on conflict (project_id, mode, id) do update set status = excluded.status, attempts = webhook_events.attempts + 1, error = null, processed_at = now() where webhook_events.status = 'failed' returning attempts), w as (insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id, stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, last_event_at, succeeded_at, failed_at, refunded_at) select :d, :p::uuid, 'test', 'user-1', 'invoice', 'succeeded', 2000::bigint, 0::bigint, 'usd', '1 x Pro plan', 'cus_x', null, 'pi_' || :k || '_' || :client_id, 'in_' || :k || '_' || :client_id, null, 'sub_x', 1795000000::bigint, now(), null::timestamptz, null::timestamptz where exists (select 1 from go) returning 1), s0 as (insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions) select * from (values (:d::varchar, :p::uuid, 'test'::varchar, current_date, 'usd'::varchar, :s::smallint, 2000::bigint, 0::bigint, 1, 0, 0, 0)) as v(developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions) where exists (select 1 from w) on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross, refunded = stats_daily.refunded + excluded.refunded, succeeded_count = stats_daily.succeeded_count + excluded.succeeded_count, failed_count = stats_daily.failed_count + excluded.failed_count, new_subscriptions = stats_daily.new_subscriptions + excluded.new_subscriptions, canceled_subscriptions = stats_daily.canceled_subscriptions + excluded.canceled_subscriptions) select (select ok from guard) as ok, exists (select 1 from go) as recorded;
`)
  return runPgbench(dbUrl, script, 16, { p: projectId, d: developerId })
}

export async function webhookIngest (): Promise<string[]> {
  // The compiled build, as the image runs it (node dist/server.js), unless SERVICE_ENTRY says otherwise.
  if (!process.env.SERVICE_ENTRY) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { encoding: 'utf8', timeout: 120_000 })
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`)
    process.env.SERVICE_ENTRY = 'dist/server.js'
  }
  const lines: string[] = []
  const say = (line: string) => { console.log(line); lines.push(line) }
  const tpl = await templates()
  const stub = await stubStripe()
  const db = await scratchDatabase('bench')
  const jwt = randomBytes(32).toString('base64url')
  const env = {
    NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: String(POOL), ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwt,
    STRIPE_API_BASE: stub.url, LOG_LEVEL: 'warn', STRIPE_CLIENT_CACHE_SIZE: '5000',
  }
  const instances = []
  for (let i = 0; i < Math.max(1, INSTANCES); i++) instances.push(await serviceInstance(`bench${i}`, env))
  const instance = instances[0] as (typeof instances)[number]
  const sql = postgres(db.url, { max: 2, onnotice: () => {} })
  try {
    const developer = `dev_bench_${randomBytes(4).toString('hex')}`
    const headers = { authorization: `Bearer ${createSigner({ key: jwt, algorithm: 'HS256' })({ sub: developer, role: 'developer' })}`, 'content-type': 'application/json' }
    const projects: Array<{ id: string, secret: string }> = Array.from({ length: SPREAD }, () => ({ id: '', secret: '' }))
    await pool([...projects.keys()], 8, async (i) => {
      const res = await fetch(`${instance.url}/api/v1/projects`, { method: 'POST', headers, body: JSON.stringify({ name: `Bench ${i}` }) })
      const id = String((await res.json() as { id: string }).id)
      const secret = `whsec_bench_${randomBytes(8).toString('hex')}`
      const put = await fetch(`${instance.url}/api/v1/payments/stripe/projects/${id}/config?test_mode=true`, {
        method: 'PUT', headers, body: JSON.stringify({ secret_key: `sk_test_bench${randomBytes(12).toString('hex')}`, publishable_key: `pk_test_bench${randomBytes(12).toString('hex')}`, webhook_secret: secret }),
      })
      if (!put.ok) throw new Error(`configure: ${put.status} ${await put.text()}`)
      projects[i] = { id, secret }
    })
    say(`webhook ingest (${process.env.SERVICE_ENTRY}): ${EVENTS} requests per run (10 % duplicates), ${CONNECTIONS} connections, pool ${POOL} per instance, mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}`)

    const warm = makeEvents(tpl, 2000, projects.length, 'w')
    const all = instances.map((i) => i.url)
    const pids = instances.map((i) => i.child?.pid ?? 0)
    await drive('warm-up', all, warm.list, warm.distinct, projects, sql, pids)
    // A live database has planner statistics (autovacuum analyzes within a minute of the first rows); a
    // scratch one has none, and without them Postgres may answer a primary-key lookup by scanning a
    // wider index. Measure the steady state.
    await sql`analyze`

    const runs: Run[] = []
    const one = makeEvents(tpl, EVENTS, 1, 'o')
    runs.push(await drive('1 project, 1 instance', [instance.url], one.list, one.distinct, projects, sql, pids.slice(0, 1)))
    if (instances.length > 1) {
      const again = makeEvents(tpl, EVENTS, 1, 'a')
      runs.push(await drive(`1 project, ${instances.length} instances`, all, again.list, again.distinct, projects, sql, pids))
    }
    const spread = makeEvents(tpl, EVENTS, projects.length, 's')
    runs.push(await drive(`${projects.length} projects, ${instances.length} instance${instances.length > 1 ? 's' : ''}`, all, spread.list, spread.distinct, projects, sql, pids))
    for (const r of runs) {
      say(`  ${r.label.padEnd(28)} ${r.rps.toFixed(0).padStart(6)} events/s (${(r.distinct / r.seconds).toFixed(0)} distinct persisted/s)  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  non-2xx ${r.non2xx}  errors ${r.errors}  recorded ${r.recorded}/${r.distinct}${r.recorded === r.distinct ? '' : '  MISMATCH'}`)
      say(`  ${''.padEnd(28)} CPU per event: service ${r.serviceCpuUs.toFixed(0)} µs (kernel ${r.serviceSystemUs.toFixed(0)} µs), PostgreSQL ${r.postgresCpuUs.toFixed(0)} µs (this database's backends ${r.backendCpuUs.toFixed(0)} µs), load generator and Stripe stub ${r.generatorCpuUs.toFixed(0)} µs; ${r.commitsPerEvent.toFixed(3)} commits per event`)
    }
    say(`  invoice reads from the Stripe stub: ${stub.reads()}`)

    if (CREDIT_PAIRS > 0) {
      // The same spread load without and with credit grants, alternated: the grants' cost is their difference.
      const price = invoicePriceOf(tpl)
      await sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, currency, interval)
        select p.id, 'test', ${price}, 'prod_bench', 100, 'usd', 'month' from projects p where p.id = any(${projects.map((p) => p.id)}::uuid[])`
      const pairs: Array<{ without: Run, with: Run }> = []
      for (let i = 0; i < CREDIT_PAIRS; i++) {
        const plain = makeEvents(tpl, EVENTS, projects.length, `p${i}`)
        const without = await drive('without credits', all, plain.list, plain.distinct, projects, sql, pids)
        const granting = makeEvents(tpl, EVENTS, projects.length, `c${i}`, true)
        const withGrants = await drive('with credit grants', all, granting.list, granting.distinct, projects, sql, pids)
        pairs.push({ without, with: withGrants })
        say(`  pair ${i + 1}: without credits ${without.rps.toFixed(0)} events/s (p99 ${without.p99.toFixed(1)} ms), with credit grants ${withGrants.rps.toFixed(0)} events/s (p99 ${withGrants.p99.toFixed(1)} ms); CPU per event of this database's backends ${without.backendCpuUs.toFixed(0)} / ${withGrants.backendCpuUs.toFixed(0)} µs, of the service ${without.serviceCpuUs.toFixed(0)} / ${withGrants.serviceCpuUs.toFixed(0)} µs; non-2xx ${without.non2xx + withGrants.non2xx}, recorded ${withGrants.recorded}/${withGrants.distinct}`)
      }
      const [lots] = await sql<Array<{ n: number, purchased: number, monthly: number }>>`select count(*)::int as n, count(*) filter (where bucket = 'purchased')::int as purchased, count(*) filter (where bucket = 'monthly')::int as monthly from credit_lots`
      const total = (key: 'with' | 'without') => pairs.reduce((n, p) => n + p[key].rps, 0)
      const cpu = (key: 'with' | 'without') => pairs.reduce((n, p) => n + p[key].backendCpuUs + p[key].serviceCpuUs, 0)
      say(`  credit grants: ${lots?.n ?? 0} lots written (${lots?.purchased ?? 0} purchased, ${lots?.monthly ?? 0} monthly); ingest with grants / without: ${(total('with') / total('without')).toFixed(3)} (sum of ${pairs.length} alternated pairs); CPU per event (service + this database's backends) without / with: ${(cpu('without') / cpu('with')).toFixed(3)}`)
    }

    const payload = tpl.get('invoice.paid') ?? '{}'
    await sql`create table bench_payload as select ${payload}::text as payload`
    await sql`analyze`
    const bench = pgbench(db.url, projects[0]?.id ?? '', developer)
    const batched = pgbenchBatched(db.url, projects[0]?.id ?? '', developer)
    for (const b of [bench, batched]) {
      if (b.tps === 0) say(`  pgbench failed: ${b.output.slice(-500)}`)
      if (process.env.BENCH_PGBENCH_VERBOSE) console.log(b.output)
    }
    say(`  bare SQL, one event per statement (pgbench, prepared, 16 clients: duplicate check; read; one guarded write = record + insert + stats upsert): ${bench.tps.toFixed(0)} events/s`)
    say(`  bare SQL, ${PGBENCH_BATCH} events per statement (pgbench, prepared, 2 clients: one read; one write = records + inserts + one summed stats upsert): ${batched.tps.toFixed(0)} events/s`)
    for (const r of runs) {
      if (bench.tps > 0 && batched.tps > 0) say(`  ratio service/bare SQL (${r.label}): ${(r.rps / bench.tps).toFixed(2)} of one event per statement, ${(r.rps / batched.tps).toFixed(2)} of ${PGBENCH_BATCH} per statement`)
    }
  } finally {
    await sql.end({ timeout: 5 })
    for (const i of instances) await i.kill('SIGTERM')
    await stub.close()
    await db.drop()
  }
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await webhookIngest()
}
