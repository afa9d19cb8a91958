// Checkout: the latency the service adds on top of the local Stripe-compatible server's own. The same
// Stripe calls a checkout makes (price retrieve, customer create, session create) are timed directly
// through the SDK, then POST /checkout-session for new end users through the service, one at a time.
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { sql } from 'drizzle-orm'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { createStripeClient } from '../src/platform/stripe/client.ts'
import { startStripeLocal } from '../stripe-local/index.ts'

const N = Number(process.env.BENCH_CHECKOUTS ?? 200)
const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ?? 0

export async function checkoutOverhead (): Promise<void> {
  const local = await startStripeLocal({ port: 0 })
  const account = await local.createAccount()
  const stripe = createStripeClient(account.test.secret_key, { apiBase: local.url })
  const price = await stripe.prices.create({ product_data: { name: 'Credits' }, unit_amount: 990, currency: 'usd' })
  const urls = { success_url: 'https://shop.example/ok', cancel_url: 'https://shop.example/cancel' }

  const direct: number[] = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    await stripe.prices.retrieve(price.id, { expand: ['product'] })
    const customer = await stripe.customers.create({ metadata: { end_user_id: `direct-${i}` } })
    await stripe.checkout.sessions.create({ mode: 'payment', customer: customer.id, line_items: [{ price: price.id, quantity: 1 }], ...urls })
    direct.push(performance.now() - t0)
  }

  const jwtSecret = randomBytes(32).toString('base64url')
  const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', ENCRYPTION_KEYS: `b:${randomBytes(32).toString('base64')}`, JWT_SECRET: jwtSecret, LOG_LEVEL: 'warn', STRIPE_API_BASE: local.url })
  const schema = `bench_checkout_${randomBytes(3).toString('hex')}`
  const database = await openDatabase({ url: config.databaseUrl, schema, poolSize: 10 })
  await database.migrate()
  const unlimited = { userMax: 1_000_000, ipMax: 1_000_000, windowMs: 60_000 }
  const app = await buildApp({ config, database, rateLimits: { checkout: unlimited, me: unlimited } })
  try {
    const developer = { authorization: `Bearer ${createSigner({ key: jwtSecret, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })({ sub: 'dev_bench', role: 'developer' })}` }
    const project = (await app.inject({ method: 'POST', url: '/api/v1/projects', headers: developer, payload: { name: 'bench' } })).json<{ id: string, end_user_secret: string }>()
    await app.inject({ method: 'PUT', url: `/api/v1/payments/stripe/projects/${project.id}/config`, headers: developer, payload: { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key } })
    const sign = createSigner({ key: project.end_user_secret, algorithm: 'HS256', expiresIn: 12 * 3_600_000 })
    const service: number[] = []
    let failures = 0
    for (let i = 0; i < N; i++) {
      const token = sign({ sub: `user-${i}`, project_id: project.id, role: 'end_user' })
      const t0 = performance.now()
      const res = await app.inject({ method: 'POST', url: '/api/v1/payments/stripe/checkout-session', headers: { authorization: `Bearer ${token}` }, payload: { price_id: price.id, ...urls } })
      service.push(performance.now() - t0)
      if (res.statusCode !== 201) failures++
    }
    const line = (label: string, v: number[]) => `${label} p50 ${percentile(v, 0.5).toFixed(1)} ms  p99 ${percentile(v, 0.99).toFixed(1)} ms`
    console.log(`checkout (${N} one-time checkouts for new end users, one at a time, PostgreSQL, local Stripe server in-process):`)
    console.log(`  ${line('Stripe calls alone (price, customer, session):', direct)}`)
    console.log(`  ${line('through the service (POST /checkout-session):  ', service)}  non-201 ${failures}`)
    console.log(`  added by the service: p50 ${(percentile(service, 0.5) - percentile(direct, 0.5)).toFixed(1)} ms`)
  } finally {
    await app.close()
    await database.db.execute(sql.raw(`drop schema if exists "${schema}" cascade`)).catch(() => {})
    await database.close()
    await local.close()
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await checkoutOverhead()
