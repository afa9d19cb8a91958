// Dashboard reads at scale: GET /payments/stats and the list endpoints after seeding 1 k, 100 k and
// 1 M transactions (10 M with BENCH_READ_SIZES=1000,100000,1000000,10000000, whose seeding takes minutes, see
// bench/RESULTS.md; BENCH_READ_REUSE=1 measures again on databases an earlier run left).
// Target: p50 at the largest size within 1.2x of p50 at 1 k.
import autocannon from 'autocannon'
import postgres from 'postgres'
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { sql } from 'drizzle-orm'
import { openDatabase, queryRows } from '../src/platform/db/client.ts'
import { seedDatabase } from '../src/jobs/seed.ts'

const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SIZES = (process.env.BENCH_READ_SIZES ?? '1000,100000,1000000').split(',').map(Number).filter((n) => n > 0)
const SECONDS = Number(process.env.BENCH_READ_SECONDS ?? 4)
const CONNECTIONS = Number(process.env.BENCH_READ_CONNECTIONS ?? 8)
const SEQUENTIAL = Number(process.env.BENCH_READ_REQUESTS ?? 200)

interface Row { size: number, route: string, rps: number, p50: number, p99: number, non2xx: number }

function databaseUrl (name: string): string {
  const url = new URL(SERVER)
  url.pathname = `/${name}`
  return url.toString()
}

/** BENCH_READ_REUSE=1: keep a database an earlier run seeded with the same size (10 M takes minutes to seed). */
const REUSE = process.env.BENCH_READ_REUSE === '1'

/** Subscriptions seeded with `size` transactions: a tenth, and at least a full list page for every developer and mode. */
const subscriptionsFor = (size: number): number => Math.max(1000, Math.round(size / 10))

async function seededBefore (name: string, size: number): Promise<boolean> {
  const sql = postgres(databaseUrl(name), { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    const [row] = await sql<Array<{ n: number, s: number }>>`select (select count(*)::int from transactions) as n, (select count(*)::int from subscriptions) as s`
    return row?.n === size && row.s === subscriptionsFor(size)
  } catch {
    return false
  } finally {
    await sql.end({ timeout: 5 })
  }
}

interface Served {
  size: number, url: (route: string) => string, headers: Record<string, string>, project: string, close: () => Promise<void>
  /** Changes the measured developer's stats of 2026-11-20 (+1, then -1: two calls leave them as they were), as ingest would. */
  touch: (delta: number) => Promise<void>
}

/** Seeds (or reuses) the database of one size and serves it from an in-process server. */
async function serveSize (size: number): Promise<Served> {
  const name = `bench_reads_${size}`
  const admin = postgres(SERVER, { max: 1, onnotice: () => {} })
  const reuse = REUSE && await seededBefore(name, size)
  if (!reuse) {
    await admin.unsafe(`drop database if exists ${name}`)
    await admin.unsafe(`create database ${name}`)
  }
  await admin.end()

  const jwtSecret = randomBytes(32).toString('base64url')
  const config = loadConfig({
    NODE_ENV: 'production', DATABASE_URL: databaseUrl(name), ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`,
    JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', PORT: '0',
  })
  const database = await openDatabase({ url: config.databaseUrl, poolSize: 10 })
  await database.migrate()
  let first: { id: string, developerId: string } | undefined
  if (reuse) {
    const [row] = await queryRows<{ id: string, developer_id: string }>(database.db, sql`select id, developer_id from projects where name = 'Seeded project 1'`)
    first = row ? { id: row.id, developerId: row.developer_id } : undefined
    console.log(`  reusing ${name} (${size} transactions, seeded by an earlier run)`)
  } else {
    const seeded = await seedDatabase(database.db, { developers: 10, projects: 50, transactions: size, subscriptions: subscriptionsFor(size), seed: 7, concurrency: 4, batchSize: 50_000 })
    console.log(`  seeded ${size} transactions in ${(seeded.ms.total / 1000).toFixed(1)} s`)
    first = seeded.projects[0]
  }
  const app = await buildApp({ config, database })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  const project = first?.id ?? ''
  const token = createSigner({ key: jwtSecret, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: first?.developerId ?? 'dev_seed_1', role: 'developer' })
  return {
    size,
    project,
    url: (route) => `http://127.0.0.1:${port}${route.replace('<project>', project)}`,
    headers: { authorization: `Bearer ${token}` },
    close: async () => { await app.close(); await database.close() },
    touch: async (delta) => {
      await database.db.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross)
        values (${first?.developerId ?? ''}, ${project}::uuid, 'test', '2026-11-20', 'usd', 0, ${delta})
        on conflict (developer_id, project_id, mode, day, currency, shard) do update set gross = stats_daily.gross + excluded.gross`)
    },
  }
}

/** The two-year read again, its last month changed before every request (as when payments arrive between reads). */
const LIVE = '/api/v1/payments/stats?test_mode=true&from=2025-01-01&to=2026-11-22#live'

const ROUTES = [
  '/api/v1/payments/stats?test_mode=true',
  '/api/v1/payments/stats?test_mode=true&from=2025-01-01&to=2026-11-22',
  LIVE,
  '/api/v1/payments/stats?test_mode=true&project_id=<project>',
  '/api/v1/payments/transactions?test_mode=true&limit=20',
  '/api/v1/payments/transactions?test_mode=true&status=succeeded&limit=20',
  '/api/v1/payments/transactions?test_mode=true&project_id=<project>&limit=20',
  '/api/v1/payments/subscriptions?test_mode=true&limit=20',
]

/**
 * Latency: one request at a time, the sizes taking turns request by request, so that the machine's
 * drift over minutes (bench/RESULTS.md) weighs on every size alike and the ratios compare like with
 * like; timed to the microsecond (autocannon's histogram counts whole milliseconds, too coarse for
 * ratios of these latencies, and under load p50 is mostly queueing). Throughput: autocannon, size by size.
 */
async function measureRoute (served: Served[], route: string): Promise<Row[]> {
  const times = served.map(() => [] as number[])
  for (let i = 0; i < SEQUENTIAL + 20; i++) {
    for (const [k, s] of served.entries()) {
      if (route === LIVE) await s.touch(i % 2 === 0 ? 1 : -1)
      const started = performance.now()
      const res = await fetch(s.url(route), { headers: s.headers })
      await res.arrayBuffer()
      if (!res.ok) throw new Error(`${route} at ${s.size}: ${res.status}`)
      if (i >= 20) times[k]?.push(performance.now() - started)
    }
  }
  // An odd number of changes leaves +1: take it back.
  if (route === LIVE && (SEQUENTIAL + 20) % 2 === 1) for (const s of served) await s.touch(-1)
  const rows: Row[] = []
  for (const [k, s] of served.entries()) {
    const sorted = (times[k] ?? []).sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
    // Throughput only for reads alone: under autocannon nothing changes the month between requests.
    const result = route === LIVE ? undefined : await autocannon({ url: s.url(route), connections: CONNECTIONS, duration: SECONDS, headers: s.headers })
    rows.push({ size: s.size, route: route.replace('/api/v1/payments/', ''), rps: result?.requests.average ?? Number.NaN, p50: at(0.5), p99: at(0.99), non2xx: result?.non2xx ?? 0 })
  }
  return rows
}

export async function dashboardReads (): Promise<void> {
  console.log(`dashboard reads: per route ${SEQUENTIAL} sequential requests per size for p50/p99 (sizes taking turns), then ${SECONDS} s at ${CONNECTIONS} connections for req/s; in-process servers on PostgreSQL; sizes ${SIZES.join(', ')} transactions (subscriptions a tenth, at least 1,000 so every developer has a full page), 10 developers, 50 projects`)
  const served: Served[] = []
  const all: Row[] = []
  try {
    for (const size of SIZES) served.push(await serveSize(size))
    for (const route of ROUTES) all.push(...await measureRoute(served, route))
  } finally {
    for (const s of served) await s.close()
  }
  for (const size of SIZES) {
    for (const r of all.filter((x) => x.size === size)) console.log(`  ${String(r.size).padStart(8)}  ${r.route.padEnd(62)} ${(Number.isNaN(r.rps) ? '-' : r.rps.toFixed(0)).padStart(6)} req/s  p50 ${r.p50.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  non-2xx ${r.non2xx}`)
  }
  const smallest = Math.min(...SIZES)
  const largest = Math.max(...SIZES)
  for (const route of [...new Set(all.map((r) => r.route))]) {
    const small = all.find((r) => r.route === route && r.size === smallest)
    const large = all.find((r) => r.route === route && r.size === largest)
    if (small && large) console.log(`  p50 ratio ${largest}/${smallest}  ${route.padEnd(62)} ${(large.p50 / Math.max(small.p50, 0.01)).toFixed(2)}`)
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await dashboardReads()
