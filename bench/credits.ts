import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import postgres from 'postgres'
import { scratchDatabase, serviceInstance } from '../test/reliability/helpers/harness.ts'
import { percentile, runLoad, runPaced, type LoadResult, type RawRequest } from './load.ts'

/**
 * Credits consumption: POST /credits/consume with a project API key over HTTP to the real service
 * (a separate process, as deployed) on PostgreSQL, spread over BENCH_WALLETS wallets and all on one
 * wallet, closed loop (the peak); then the same at 4 connections; then open loop at half of each peak
 * (requests sent at a fixed rate, latency from when each was due) for the p99 a service running at
 * half its capacity shows; then pgbench running the consume statement on the same database, and the ratio.
 */
const WALLETS = Number(process.env.BENCH_WALLETS ?? 10_000)
const REQUESTS = Number(process.env.BENCH_CONSUMES ?? 20_000)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const POOL = Number(process.env.BENCH_POOL ?? 8)
const PGBENCH_SECONDS = Number(process.env.BENCH_PGBENCH_SECONDS ?? 10)
const OPEN_SECONDS = Number(process.env.BENCH_OPEN_SECONDS ?? 10)

export async function creditsBench (): Promise<string[]> {
  if (!process.env.SERVICE_ENTRY) {
    const build = spawnSync('npm', ['run', '-s', 'build'], { encoding: 'utf8', timeout: 120_000 })
    if (build.status !== 0) throw new Error(`npm run build failed: ${build.stdout}${build.stderr}`)
    process.env.SERVICE_ENTRY = 'dist/server.js'
  }
  const lines: string[] = []
  const say = (line: string) => { console.log(line); lines.push(line) }
  const db = await scratchDatabase('bench_credits')
  const jwt = randomBytes(32).toString('base64url')
  const instance = await serviceInstance('credits', {
    NODE_ENV: 'production', DATABASE_URL: db.url, DATABASE_POOL_SIZE: String(POOL), ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwt, LOG_LEVEL: 'warn',
  })
  const sql = postgres(db.url, { max: 2, onnotice: () => {} })
  try {
    const developer = { authorization: `Bearer ${createSigner({ key: jwt, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: 'dev_bench', role: 'developer' })}`, 'content-type': 'application/json' }
    const project = await (await fetch(`${instance.url}/api/v1/projects`, { method: 'POST', headers: developer, body: JSON.stringify({ name: 'credits bench' }) })).json() as { id: string }
    const { key } = await (await fetch(`${instance.url}/api/v1/projects/${project.id}/api-keys`, { method: 'POST', headers: developer, body: JSON.stringify({ mode: 'test', name: 'bench' }) })).json() as { key: string }
    // Every wallet holds far more than the run spends, in one lot each (the common case: one package or period).
    await sql`select credits_grant(${project.id}::uuid, 'test', 'u' || g, 'purchased', 'grant', 1000000000, 'seed:' || g, null, null, null, false, null, 'bench') from generate_series(0, ${WALLETS}) g`
    await sql`analyze`
    say(`credits consume (${process.env.SERVICE_ENTRY}, PostgreSQL, pool ${POOL}): ${REQUESTS} requests per run, API key, distinct Idempotency-Keys`)

    let n = 0
    const requests = (count: number, wallet: () => string): RawRequest[] => Array.from({ length: count }, () => ({
      method: 'POST', path: '/api/v1/credits/consume',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'idempotency-key': `b-${++n}` },
      body: JSON.stringify({ end_user_id: wallet(), amount: 1 }),
    }))
    const spreadWallet = () => `u${1 + Math.floor(Math.random() * WALLETS)}`
    await runLoad(instance.url, requests(2000, spreadWallet), CONNECTIONS)
    const report = (label: string, r: LoadResult, extra = '') => {
      const rps = r.sent / (r.elapsedMs / 1000)
      const non200 = r.sent - (r.statuses.get(200) ?? 0)
      say(`  ${label.padEnd(50)} ${rps.toFixed(0).padStart(6)} consumes/s  p50 ${percentile(r.latencies, 50).toFixed(1)} ms  p99 ${percentile(r.latencies, 99).toFixed(1)} ms  non-200 ${non200}  errors ${r.errors}${extra}`)
      return rps
    }
    // Consume entries per transaction that wrote them (xmin): how many consumes a commit carried.
    const perCommit = async <T>(measure: () => Promise<T>): Promise<[T, string]> => {
      const [start] = await sql<Array<{ t: Date }>>`select now() as t`
      const result = await measure()
      const [c] = await sql<Array<{ n: number, t: number }>>`select count(*)::int as n, count(distinct xmin::text)::int as t from credit_ledger where kind = 'consume' and created_at >= ${start?.t ?? new Date(0)}`
      return [result, `  per commit ${((c?.n ?? 0) / Math.max(1, c?.t ?? 0)).toFixed(1)}`]
    }
    const run = async (label: string, list: RawRequest[], connections: number) => {
      const [r, batches] = await perCommit(() => runLoad(instance.url, list, connections, 600_000))
      return report(label, r, batches)
    }
    const spread = await run(`spread over ${WALLETS} wallets, ${CONNECTIONS} conn`, requests(REQUESTS, spreadWallet), CONNECTIONS)
    const hot = await run(`one wallet, ${CONNECTIONS} conn`, requests(REQUESTS, () => 'u0'), CONNECTIONS)
    await run('spread, 4 connections (below the peak)', requests(Math.floor(REQUESTS / 2), spreadWallet), 4)
    await run('one wallet, 4 connections (below the peak)', requests(Math.floor(REQUESTS / 2), () => 'u0'), 4)
    // Open loop at half of each peak just measured: what a caller sees while the service has room to spare.
    const paced = async (label: string, rate: number, wallet: () => string) => {
      const [r, batches] = await perCommit(() => runPaced(instance.url, requests(Math.round(rate * OPEN_SECONDS), wallet), rate, 512, 600_000))
      report(`${label} at ${rate.toFixed(0)}/s (open loop)`, r, `${batches}  connections ${r.connections}  sent late p99 ${percentile(r.late, 99).toFixed(1)} ms`)
    }
    await paced('spread, half the peak', spread / 2, spreadWallet)
    await paced('one wallet, half the peak', hot / 2, () => 'u0')
    // BENCH_OPEN_RATES=300,600: the same at fixed rates too, to compare builds at equal load.
    for (const rate of (process.env.BENCH_OPEN_RATES ?? '').split(',').filter(Boolean).map(Number)) {
      await paced('spread', rate, spreadWallet)
      await paced('one wallet', rate, () => 'u0')
    }

    const dir = mkdtempSync(join(tmpdir(), 'pgbench-credits-'))
    const pgbench = (name: string, statement: string): number => {
      const script = join(dir, `${name}.sql`)
      writeFileSync(script, `\\set w random(1, ${WALLETS})\n\\set k random(1, 2000000000)\n${statement}\n`)
      const out = spawnSync('pgbench', ['-n', '-c', '16', '-j', '2', '-T', String(PGBENCH_SECONDS), '-M', 'prepared', '-f', script, '-D', `p=${project.id}`, db.url], { encoding: 'utf8', timeout: (PGBENCH_SECONDS + 30) * 1000 })
      const tps = Number(/tps = ([\d.]+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? 0)
      if (tps === 0) say(`  pgbench failed: ${`${out.stdout}${out.stderr}`.slice(-400)}`)
      return tps
    }
    // One consume per transaction, prepared, a distinct key per call: credits_consume is what every
    // consume runs (the route's whole statement before consumes were batched, each item of a batch since).
    const tps = pgbench('consume', "select credits_consume(:p::uuid, 'test'::text, ('u' || :w)::text, 1::bigint, ('pgb-' || :client_id || '-' || :k)::text, 'f'::text, null::text, null::jsonb) as r;")
    say(`  pgbench, credits_consume, spread, 16 clients: ${tps.toFixed(0)} consumes/s; service spread / pgbench = ${(spread / tps).toFixed(2)}; one wallet ${hot.toFixed(0)}/s`)
    const [batch] = await sql<Array<{ f: string | null }>>`select to_regproc('credits_consume_batch')::text as f`
    if (batch?.f) {
      // The statement the route sends now, as it goes with no load: a batch of one.
      const one = pgbench('batch', "select credits_consume_batch(jsonb_build_array(jsonb_build_object('project_id', :p::text, 'mode', 'test', 'end_user_id', 'u' || :w, 'amount', 1, 'key', 'pgb1-' || :client_id || '-' || :k, 'fingerprint', 'f'))) as r;")
      say(`  pgbench, credits_consume_batch of one consume, spread, 16 clients: ${one.toFixed(0)} consumes/s; service spread / it = ${(spread / one).toFixed(2)}`)
    }
    const [ledger] = await sql<Array<{ n: number }>>`select count(*)::int as n from credit_ledger`
    say(`  ledger entries written: ${ledger?.n ?? 0}`)
  } finally {
    await sql.end()
    await instance.kill('SIGTERM')
    await db.drop()
  }
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) await creditsBench()
