// Client resolution across 10,000 configured projects: an end-user route over HTTP (token verified with
// each project's own secret, from a bounded cache), and the Stripe client resolver with a cache smaller
// and larger than the working set: hit rate, queries and decryptions per resolve, memory.
import autocannon from 'autocannon'
import postgres from 'postgres'
import { randomBytes, randomUUID } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { sql } from 'drizzle-orm'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { associatedData, keyHint, seal } from '../src/platform/crypto.ts'

const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const PROJECTS = Number(process.env.BENCH_RESOLVE_PROJECTS ?? 10_000)
const RESOLVES = Number(process.env.BENCH_RESOLVES ?? 50_000)
const SECONDS = Number(process.env.BENCH_RESOLVE_SECONDS ?? 5)

function databaseUrl (name: string): string {
  const url = new URL(SERVER)
  url.pathname = `/${name}`
  return url.toString()
}

export async function clientResolution (): Promise<void> {
  const name = 'bench_resolution'
  const admin = postgres(SERVER, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name}`)
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const env = { NODE_ENV: 'production', DATABASE_URL: databaseUrl(name), ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`, JWT_SECRET: randomBytes(32).toString('base64url'), LOG_LEVEL: 'warn' }
  const base = loadConfig(env)
  const database = await openDatabase({ url: base.databaseUrl, poolSize: 10 })
  await database.migrate()

  const started = performance.now()
  const projects = Array.from({ length: PROJECTS }, () => ({ id: randomUUID(), secret: `eus_${randomBytes(24).toString('base64url')}` }))
  for (let i = 0; i < projects.length; i += 1000) {
    const chunk = projects.slice(i, i + 1000)
    await database.db.execute(sql`insert into projects (id, developer_id, name, end_user_secret) values ${sql.join(chunk.map((p) =>
      sql`(${p.id}::uuid, 'dev_bench', 'bench', ${seal(base, p.secret, associatedData(p.id, null, 'end_user_secret'))})`), sql`, `)}`)
    await database.db.execute(sql`insert into stripe_configs (project_id, mode, secret_key, secret_key_hint, publishable_key, webhook_secret) values ${sql.join(chunk.map((p) => {
      const key = `sk_test_${randomBytes(18).toString('hex')}`
      return sql`(${p.id}::uuid, 'test', ${seal(base, key, associatedData(p.id, 'test', 'secret_key'))}, ${keyHint(key)}, ${`pk_test_${randomBytes(18).toString('hex')}`},
        ${seal(base, `whsec_${randomBytes(24).toString('hex')}`, associatedData(p.id, 'test', 'webhook_secret'))})`
    }), sql`, `)}`)
  }
  console.log(`client resolution: ${PROJECTS} projects configured in ${((performance.now() - started) / 1000).toFixed(1)} s`)

  // 1. An end-user route over HTTP, tokens of every project in turn (the secret cache holds 10,000).
  {
    // The per-IP limit would answer 429 to a load generator on one address: lifted for the measurement.
    const unlimited = { userMax: 1_000_000, ipMax: 1_000_000, windowMs: 60_000 }
    const app = await buildApp({ config: base, database, rateLimits: { checkout: unlimited, me: unlimited } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const address = app.server.address()
    const port = typeof address === 'object' && address ? address.port : 0
    const tokens = projects.map((p) => createSigner({ key: p.secret, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: 'user-1', project_id: p.id, role: 'end_user' }))
    let next = 0
    const result = await autocannon({
      url: `http://127.0.0.1:${port}/api/v1/payments/stripe/my-subscription`, connections: 8, duration: SECONDS,
      requests: [{ method: 'GET', setupRequest: (req) => ({ ...req, headers: { authorization: `Bearer ${tokens[next++ % tokens.length] ?? ''}` } }) }],
    })
    console.log(`  GET my-subscription, ${PROJECTS} projects round-robin: ${result.requests.average.toFixed(0)} req/s  p50 ${result.latency.p50} ms  p99 ${result.latency.p99} ms  non-2xx ${result.non2xx}`)
    await app.close()
  }

  // 2. The Stripe client resolver, uniform random projects, cache below and above the working set.
  for (const cacheSize of [1000, 20_000]) {
    const app = await buildApp({ config: loadConfig({ ...env, STRIPE_CLIENT_CACHE_SIZE: String(cacheSize) }), database })
    await app.ready()
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    const before = process.memoryUsage().heapUsed
    const t0 = performance.now()
    for (let i = 0; i < RESOLVES; i++) {
      const p = projects[Math.floor(Math.random() * projects.length)]
      if (p) await app.stripeResolver.resolve(p.id, 'test')
    }
    const seconds = (performance.now() - t0) / 1000
    const s = app.stripeResolver.stats()
    gc?.()
    const heap = (process.memoryUsage().heapUsed - before) / 2 ** 20
    console.log(`  resolver, cache ${String(cacheSize).padStart(6)}: ${(RESOLVES / seconds).toFixed(0)} resolves/s  hit rate ${(100 * s.hits / RESOLVES).toFixed(1)} %  queries/resolve ${(s.queries / RESOLVES).toFixed(3)}  decryptions/resolve ${(s.decryptions / RESOLVES).toFixed(3)}  cached ${s.size}  heap +${heap.toFixed(0)} MiB${gc ? '' : ' (run with --expose-gc for a settled figure)'}`)
    // A second pass over the now warm cache.
    const t1 = performance.now()
    const h0 = app.stripeResolver.stats().hits
    for (let i = 0; i < RESOLVES; i++) {
      const p = projects[Math.floor(Math.random() * projects.length)]
      if (p) await app.stripeResolver.resolve(p.id, 'test')
    }
    const warm = app.stripeResolver.stats()
    console.log(`  resolver, cache ${String(cacheSize).padStart(6)}, warm: ${(RESOLVES / ((performance.now() - t1) / 1000)).toFixed(0)} resolves/s  hit rate ${(100 * (warm.hits - h0) / RESOLVES).toFixed(1)} %`)
    await app.close()
  }
  await database.close()
}

if (import.meta.url === `file://${process.argv[1]}`) await clientResolution()
