import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync, mkdtempSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { createSigner } from 'fast-jwt'
import postgres from 'postgres'
import { startStripeLocal, signatureHeader } from '../stripe-local/index.ts'
import { generateHistory, historyReceiver, pool, scratchDatabase, serviceInstance } from '../test/reliability/helpers/harness.ts'

/**
 * Webhook ingest: realistic signed events (cloned from a history the local Stripe server produced) sent
 * by autocannon to the real HTTP server on a Postgres database, for one project and spread over 1,000;
 * then pgbench running the same statements as bare SQL on the same database, and the ratio.
 *
 * Invoice events need their payment intent, which the current API's payload does not carry: the
 * service reads the invoice from Stripe first. Here that read goes to a stub that answers at once
 * (STRIPE_API_BASE), so the figure is the service's own cost, not Stripe's latency.
 */

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const POOL = Number(process.env.BENCH_POOL ?? 4)
const PGBENCH_SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 10)
const SPREAD = Number(process.env.BENCH_PROJECTS ?? 1000)
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

/** Answers the service's invoice read (expand payments) at once, naming a payment intent derived from the invoice id. */
export async function stubStripe (): Promise<{ url: string, reads: () => number, close (): Promise<void> }> {
  let reads = 0
  const server = createServer((req, res) => {
    reads++
    const match = /^\/v1\/invoices\/(in_[A-Za-z0-9_]+)/.exec(req.url ?? '')
    if (!match?.[1]) { res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'invalid_request_error', message: 'not stubbed' } })); return }
    const id = match[1]
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      id, object: 'invoice', payments: { object: 'list', has_more: false, url: '/v1/invoice_payments', data: [{ object: 'invoice_payment', id: `inpay_${id.slice(3)}`, status: 'paid', is_default: true, payment: { type: 'payment_intent', payment_intent: `pi_${id.slice(3)}` } }] },
    }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, reads: () => reads, close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) }
}

export interface Prepared { projectIndex: number, body: string, id: string }

export function makeEvents (tpl: Map<string, string>, count: number, projects: number, tag: string): { list: Prepared[], distinct: number } {
  const weights = MIX.flatMap(([type, w]) => Array.from({ length: w }, () => type))
  const distinctCount = Math.round(count / 1.1)
  const list: Prepared[] = []
  for (let i = 0; i < distinctCount; i++) {
    const type = weights[i % weights.length] as string
    const template = tpl.get(type)
    if (!template) throw new Error(`no ${type} in the history`)
    const suffix = `${tag}${i.toString(36)}`
    const body = template.replace(ID, (whole, prefix: string) => `${prefix}_${whole.slice(prefix.length + 1, prefix.length + 9)}${suffix}`)
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

interface Run { label: string, events: number, distinct: number, seconds: number, rps: number, p50: number, p99: number, non2xx: number, errors: number, recorded: number }

async function drive (label: string, url: string, events: Prepared[], distinct: number, projects: Array<{ id: string, secret: string }>, db: postgres.Sql): Promise<Run> {
  const t = Math.floor(Date.now() / 1000)
  const requests = events.map((e) => {
    const project = projects[e.projectIndex] as { id: string, secret: string }
    return { path: `/api/v1/payments/stripe/webhooks/${project.id}/test`, body: e.body, headers: { 'content-type': 'application/json', 'stripe-signature': signatureHeader(project.secret, t, e.body) } }
  })
  let next = 0
  const started = performance.now()
  let last = started
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    amount: requests.length,
    timeout: 30,
    requests: [{ method: 'POST', setupRequest: (req) => ({ ...req, ...(requests[next++ % requests.length] ?? {}) }), onResponse: () => { last = performance.now() } }],
  })
  // Until the last response: autocannon itself only notices the end at its next one-second tick.
  const elapsed = last - started
  const ids = [...new Set(events.map((e) => e.id))]
  const [row] = await db<Array<{ n: number }>>`select count(*)::int as n from webhook_events where id = any(${ids}) and status in ('processed', 'ignored')`
  const seconds = elapsed / 1000
  return {
    label, events: requests.length, distinct, seconds, rps: result.requests.total / seconds, p50: result.latency.p50, p99: result.latency.p99,
    non2xx: result.non2xx, errors: result.errors + result.timeouts, recorded: Number(row?.n ?? 0),
  }
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
  const out = spawnSync('pgbench', ['-n', '-r', '-c', String(CONNECTIONS > 16 ? 16 : CONNECTIONS), '-j', '2', '-T', String(PGBENCH_SECONDS), '-M', 'prepared', '-f', script,
    '-D', `p=${projectId}`, '-D', `d=${developerId}`, dbUrl], { encoding: 'utf8', timeout: (PGBENCH_SECONDS + 30) * 1000 })
  const output = `${out.stdout}${out.stderr}`
  const tps = Number(/tps = ([\d.]+)/.exec(output)?.[1] ?? 0)
  return { tps, output }
}

export async function webhookIngest (): Promise<string[]> {
  const lines: string[] = []
  const say = (line: string) => { console.log(line); lines.push(line) }
  const tpl = await templates()
  const stub = await stubStripe()
  const db = await scratchDatabase('bench')
  const jwt = randomBytes(32).toString('base64url')
  const instance = await serviceInstance('bench', {
    NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: String(POOL), ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwt,
    STRIPE_API_BASE: stub.url, LOG_LEVEL: 'warn', STRIPE_CLIENT_CACHE_SIZE: '5000',
  })
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
    say(`webhook ingest: ${EVENTS} requests per run (10 % duplicates), ${CONNECTIONS} connections, pool ${POOL}, mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}`)

    const warm = makeEvents(tpl, 2000, projects.length, 'w')
    await drive('warm-up', instance.url, warm.list, warm.distinct, projects, sql)
    // A live database has planner statistics (autovacuum analyzes within a minute of the first rows); a
    // scratch one has none, and without them Postgres may answer a primary-key lookup by scanning a
    // wider index. Measure the steady state.
    await sql`analyze`

    const runs: Run[] = []
    const one = makeEvents(tpl, EVENTS, 1, 'o')
    runs.push(await drive('1 project', instance.url, one.list, one.distinct, projects, sql))
    const spread = makeEvents(tpl, EVENTS, projects.length, 's')
    runs.push(await drive(`${projects.length} projects`, instance.url, spread.list, spread.distinct, projects, sql))
    for (const r of runs) {
      say(`  ${r.label.padEnd(14)} ${r.rps.toFixed(0).padStart(6)} events/s (${(r.distinct / r.seconds).toFixed(0)} distinct persisted/s)  p50 ${r.p50} ms  p99 ${r.p99} ms  non-2xx ${r.non2xx}  errors ${r.errors}  recorded ${r.recorded}/${r.distinct}${r.recorded === r.distinct ? '' : '  MISMATCH'}`)
    }
    say(`  invoice reads from the Stripe stub: ${stub.reads()}`)

    const payload = tpl.get('invoice.paid') ?? '{}'
    await sql`create table bench_payload as select ${payload}::jsonb as payload`
    await sql`analyze`
    const bench = pgbench(db.url, projects[0]?.id ?? '', developer)
    if (bench.tps === 0) say(`  pgbench failed: ${bench.output.slice(-500)}`)
  if (process.env.BENCH_PGBENCH_VERBOSE) console.log(bench.output)
    const single = runs[0]
    say(`  pgbench, same statements (duplicate check; read; one guarded write: record + insert + stats upsert), prepared, 16 clients: ${bench.tps.toFixed(0)} events/s`)
    if (single && bench.tps > 0) say(`  ratio service/bare SQL (1 project): ${(single.rps / bench.tps).toFixed(2)}`)
  } finally {
    await sql.end({ timeout: 5 })
    await instance.kill('SIGTERM')
    await stub.close()
    await db.drop()
  }
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await webhookIngest()
}
