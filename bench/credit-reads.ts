import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import postgres from 'postgres'
import { scratchDatabase, serviceInstance } from '../test/reliability/helpers/harness.ts'

/**
 * Credit reads at scale: GET /credits/balances/{end_user} and ledger pages (the newest, one from the
 * middle, one filtered by kind) with a project API key over HTTP to the real service (a separate
 * process per database, as deployed), after seeding 1 k and 1 M ledger entries, all in the wallet
 * read (the worst case for its pages). Target: p50 at 1 M within 1.2× of p50 at 1 k: the balance is the
 * wallet row, never a sum of the ledger, and a page is an index range of (wallet, seq).
 * Latency is one request at a time, the sizes taking turns request by request (as bench/dashboard-reads.ts).
 */
const SIZES = (process.env.BENCH_CREDIT_READ_SIZES ?? '1000,1000000').split(',').map(Number).filter((n) => n > 1)
const REQUESTS = Number(process.env.BENCH_CREDIT_READ_REQUESTS ?? 400)

interface Served { size: number, url: string, key: string, middle: number, close (): Promise<void> }

async function serve (size: number, jwt: string): Promise<Served> {
  const db = await scratchDatabase(`bench_credit_reads_${size}`)
  const instance = await serviceInstance(`reads${size}`, {
    NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: '4', ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwt, LOG_LEVEL: 'warn',
  })
  const sql = postgres(db.url, { max: 1, onnotice: () => {} })
  try {
    const developer = { authorization: `Bearer ${createSigner({ key: jwt, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: 'dev_bench', role: 'developer' })}`, 'content-type': 'application/json' }
    const project = await (await fetch(`${instance.url}/api/v1/projects`, { method: 'POST', headers: developer, body: JSON.stringify({ name: 'credit reads' }) })).json() as { id: string }
    const { key } = await (await fetch(`${instance.url}/api/v1/projects/${project.id}/api-keys`, { method: 'POST', headers: developer, body: JSON.stringify({ mode: 'test', name: 'bench' }) })).json() as { key: string }
    const started = performance.now()
    // One grant through the engine, then size − 1 spends of 1 written as the engine writes them (balance after each), and the wallet and lot to match.
    await sql`select credits_grant(${project.id}::uuid, 'test', 'u0', 'purchased', 'grant', ${2 * size}, 'seed:u0', null, null, null, false, null, 'bench')`
    await sql`insert into credit_ledger (wallet_id, seq, kind, bucket, amount, monthly_after, purchased_after, bonus_after, reserved_after, debt_after, lot_id, source, description)
      select w.id, g, 'consume', 'purchased', -1, 0, ${2 * size} - (g - 1), 0, 0, 0, l.id, null, 'bench'
      from credit_wallets w join credit_lots l on l.wallet_id = w.id, generate_series(2, ${size}) g where w.end_user_id = 'u0'`
    await sql`update credit_lots set remaining = ${size + 1} where source = 'seed:u0'`
    await sql`update credit_wallets set purchased = ${size + 1}, seq = ${size} where end_user_id = 'u0'`
    await sql`vacuum analyze`
    console.log(`  seeded ${size} ledger entries in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    return { size, url: instance.url, key, middle: Math.floor(size / 2), close: async () => { await instance.kill('SIGTERM'); await db.drop() } }
  } finally {
    await sql.end()
  }
}

const ROUTES: Array<[string, (s: Served) => string]> = [
  ['balance', () => '/api/v1/credits/balances/u0'],
  ['ledger, newest page (50)', () => '/api/v1/credits/ledger?end_user_id=u0&limit=50'],
  ['ledger, a page from the middle', (s) => `/api/v1/credits/ledger?end_user_id=u0&limit=50&starting_after=${s.middle}`],
  ['ledger, kind=grant', () => '/api/v1/credits/ledger?end_user_id=u0&kind=grant&limit=50'],
]

export async function creditReads (): Promise<string[]> {
  if (!process.env.SERVICE_ENTRY) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { encoding: 'utf8', timeout: 120_000 })
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`)
    process.env.SERVICE_ENTRY = 'dist/server.js'
  }
  const lines: string[] = []
  const say = (line: string) => { console.log(line); lines.push(line) }
  say(`credit reads (${process.env.SERVICE_ENTRY}, PostgreSQL): ${REQUESTS} sequential requests per route and size, sizes taking turns; ledger entries ${SIZES.join(', ')}, all in the wallet read`)
  const jwt = randomBytes(32).toString('base64url')
  const served: Served[] = []
  try {
    for (const size of SIZES) served.push(await serve(size, jwt))
    const p50s = new Map<string, number[]>()
    for (const [label, route] of ROUTES) {
      const times = served.map(() => [] as number[])
      for (let i = 0; i < REQUESTS + 20; i++) {
        for (const [k, s] of served.entries()) {
          const started = performance.now()
          const res = await fetch(`${s.url}${route(s)}`, { headers: { authorization: `Bearer ${s.key}` } })
          const body = await res.json() as { data?: unknown[], total?: number }
          if (!res.ok || (body.data && body.data.length === 0)) throw new Error(`${label} at ${s.size}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`)
          if (i >= 20) times[k]?.push(performance.now() - started)
        }
      }
      const at = (list: number[], q: number) => { const sorted = [...list].sort((a, b) => a - b); return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0 }
      p50s.set(label, times.map((t) => at(t, 0.5)))
      for (const [k, s] of served.entries()) say(`  ${String(s.size).padStart(8)}  ${label.padEnd(32)} p50 ${at(times[k] ?? [], 0.5).toFixed(2)} ms  p99 ${at(times[k] ?? [], 0.99).toFixed(2)} ms`)
    }
    for (const [label, list] of p50s) say(`  p50 ratio ${SIZES.at(-1)}/${SIZES[0]}  ${label.padEnd(32)} ${((list.at(-1) ?? 0) / Math.max(list[0] ?? 0, 0.001)).toFixed(2)}`)
  } finally {
    for (const s of served) await s.close()
  }
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) await creditReads()
