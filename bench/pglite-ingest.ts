import { randomBytes } from 'node:crypto'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { signatureHeader } from '../stripe-local/index.ts'
import { pool } from '../test/reliability/helpers/harness.ts'
import { makeEvents, stubStripe, templates } from './webhook-ingest.ts'
import { createSigner } from 'fast-jwt'
import { sql } from 'drizzle-orm'

/** The embedded database: events/s through app.inject in one process (no HTTP, no server). */
const EVENTS = Number(process.env.BENCH_PGLITE_EVENTS ?? 3000)

export async function pgliteIngest (): Promise<string[]> {
  const tpl = await templates()
  const stub = await stubStripe()
  const jwt = randomBytes(32).toString('base64url')
  const config = loadConfig({ NODE_ENV: 'test', ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwt, LOG_LEVEL: 'silent', STRIPE_API_BASE: stub.url, DATA_DIR: '/nonexistent' })
  const app = await buildApp({ config })
  const lines: string[] = []
  try {
    await app.ready()
    const headers = { authorization: `Bearer ${createSigner({ key: jwt, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: 'dev_pglite', role: 'developer' })}` }
    const created = await app.inject({ method: 'POST', url: '/api/v1/projects', headers, payload: { name: 'PGlite' } })
    const id = created.json<{ id: string }>().id
    const secret = `whsec_pglite_${randomBytes(8).toString('hex')}`
    await app.inject({ method: 'PUT', url: `/api/v1/payments/stripe/projects/${id}/config?test_mode=true`, headers, payload: { secret_key: 'sk_test_pglitebench00000000', publishable_key: 'pk_test_pglitebench00000000', webhook_secret: secret } })
    const run = async (count: number, tag: string) => {
      const { list } = makeEvents(tpl, count, 1, tag)
      const started = performance.now()
      let failed = 0
      const latencies: number[] = []
      await pool(list, 8, async (e) => {
        const t0 = performance.now()
        const res = await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/webhooks/${id}/test`, payload: e.body, headers: { 'content-type': 'application/json', 'stripe-signature': signatureHeader(secret, Math.floor(Date.now() / 1000), e.body) } })
        latencies.push(performance.now() - t0)
        if (res.statusCode !== 200) failed++
      })
      const seconds = (performance.now() - started) / 1000
      latencies.sort((a, b) => a - b)
      return { rps: count / seconds, p50: latencies[Math.floor(latencies.length / 2)] ?? 0, p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0, failed }
    }
    await run(500, 'pw')
    await app.db.execute(sql`analyze`) // as autovacuum would on a live database (see webhook-ingest.ts)
    const r = await run(EVENTS, 'pg')
    const line = `PGlite in-process ingest (app.inject, 8 concurrent, same mix, 10 % duplicates): ${r.rps.toFixed(0)} events/s  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  non-200 ${r.failed}`
    console.log(line)
    lines.push(line)
  } finally {
    await app.close()
    await stub.close()
  }
  return lines
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await pgliteIngest()
}
