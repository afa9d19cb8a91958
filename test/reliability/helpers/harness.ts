import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import type Stripe from 'stripe'
import { PURCHASE_METADATA, purchaseMetadata } from '../../../src/modules/credits/model.ts'
import { createStripeClient } from '../../../src/platform/stripe/client.ts'
import { idOf } from '../../../src/platform/stripe/objects.ts'
import { signatureHeader, type LocalAccount, type StripeLocal } from '../../../stripe-local/index.ts'

// Nothing here imports tap (the benchmarks use these helpers too, outside any test).

/** A Stripe-Signature header for `payload`, with a fresh timestamp. */
export const signed = (payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string => signatureHeader(secret, timestamp, payload)

/** A port that was free a moment ago. */
export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/**
 * The pieces of the reliability suite: a scratch database on the Postgres server, real service
 * processes, a recorded history of signed events from the local Stripe server, and a sender that
 * behaves like Stripe (spreads deliveries, retries on anything but 2xx, bounded).
 */

export const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
export const SERVER_URL = process.env.RELIABILITY_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A database of its own (`rel_<random>`) on the server of SERVER_URL, dropped by `drop()`. */
export async function scratchDatabase (prefix = 'rel'): Promise<{ name: string, url: string, admin: postgres.Sql, drop (): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  await admin.unsafe(`create database "${name}"`)
  const url = new URL(SERVER_URL)
  url.pathname = `/${name}`
  return {
    name,
    url: url.toString(),
    admin,
    async drop () {
      for (let i = 0; i < 20; i++) {
        try {
          await admin.unsafe(`drop database if exists "${name}" with (force)`)
          break
        } catch {
          await sleep(500)
        }
      }
      await admin.end({ timeout: 5 })
    },
  }
}

export interface Instance {
  name: string
  url: string
  port: number
  logs: string[]
  /** How each process of this instance ended, when it ended without being asked to. */
  exits: string[]
  child: ChildProcess | undefined
  start (): Promise<void>
  kill (signal: NodeJS.Signals): Promise<void>
}

/** `node --import tsx src/server.ts` (or SERVICE_ENTRY) on an ephemeral port; every log line is kept (the secrets check reads them). */
export async function serviceInstance (name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const logs: string[] = []
  const expected = new WeakSet<ChildProcess>()
  const instance: Instance = {
    name, url, port, logs, exits: [], child: undefined,
    async start () {
      // SERVICE_NODE_ARGS, e.g. '--cpu-prof --cpu-prof-dir=/tmp/prof', profiles the instances under load;
      // SERVICE_ENTRY=dist/server.js runs the compiled build (as the image does) instead of the sources through tsx.
      const nodeArgs = process.env.SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? []
      const entry = process.env.SERVICE_ENTRY ? [process.env.SERVICE_ENTRY] : ['--import', 'tsx', 'src/server.ts']
      const child = spawn(process.execPath, [...nodeArgs, ...entry], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, PORT: String(port), HOST: '127.0.0.1', PUBLIC_BASE_URL: url },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      instance.child = child
      const keep = (chunk: Buffer) => { for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(line) }
      child.stdout?.on('data', keep)
      child.stderr?.on('data', keep)
      child.once('exit', (code, signal) => {
        if (expected.has(child)) return
        // The cause is logged before the shutdown's own lines: name it (server.ts logs 'closing after an error'), else the last error line.
        const cause = logs.findLast((line) => line.includes('closing after an error')) ?? logs.findLast((line) => /"level":(5\d|6\d)/.test(line) || /^\S*Error\b/.test(line)) ?? ''
        instance.exits.push(`exit ${code ?? signal ?? ''}: ${cause.slice(0, 1500)} … ${logs.slice(-3).join(' | ').slice(0, 1500)}`)
        // Like a process supervisor: start it again (bounded), so the run goes on; the test fails on any such exit.
        if (instance.exits.length <= 10) setTimeout(() => { instance.start().catch(() => {}) }, 300)
      })
      const deadline = Date.now() + 60_000
      while (Date.now() < deadline) {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${logs.slice(-5).join('\n')}`)
        try {
          const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) })
          if (res.ok) return
        } catch { /* not listening yet */ }
        await sleep(100)
      }
      throw new Error(`${name} did not become ready in 60 s`)
    },
    async kill (signal) {
      const child = instance.child
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      expected.add(child)
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill(signal)
      await Promise.race([exited, sleep(15_000)])
    },
  }
  await instance.start()
  return instance
}

/** Webhook targets on one port, one path per account: the raw signed bodies, in the order they arrived. */
export async function historyReceiver (): Promise<{ url: (key: string) => string, bodies: Map<string, string[]>, close (): Promise<void> }> {
  const bodies = new Map<string, string[]>()
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const key = (req.url ?? '/').slice(1)
      const list = bodies.get(key) ?? []
      list.push(Buffer.concat(chunks).toString('utf8'))
      bodies.set(key, list)
      res.writeHead(200).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: (key) => `${base}/${key}`,
    bodies,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }),
  }
}

async function localAction<T> (local: StripeLocal, path: string): Promise<T> {
  const res = await fetch(`${local.url}/_local${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  const json = await res.json() as T
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

export interface HistoryShape { subscribers: number, oneTime: number, credits?: CreditsShape }

/**
 * A project that sells credits: its package purchases carry the metadata our checkout writes (the
 * transaction and the credits promised), and it has a plan price whose subscribers pay several periods.
 */
export interface CreditsShape {
  /** Credits one unit of the package grants, and for how many days (null: they never expire). */
  packCredits: number
  expiresInDays: number | null
  /** Subscribers of the plan price (the first starts with a trial), each paying `renewals` periods after the first. */
  planSubscribers: number
  renewals: number
  /** Package checkouts refunded in cumulative steps, besides the one-time payments every history has. */
  purchases: number
}

/** The prices a history sold, for the catalog (the plan's only with credits). */
export interface HistoryPrices { pack: string, plan: string | null }

/**
 * One account's business, through the local Stripe server: subscription checkouts, renewals, failed
 * renewals and their recovery, cancellations, one-time payments (some declined first), partial and full
 * refunds, a canceled payment intent and an expired checkout. With `credits`, the one-time payments buy
 * credits, and plan subscriptions, refunds in steps and a payment intent without checkout are added.
 * The events reach `hookUrl` signed, in order.
 */
export async function generateHistory (local: StripeLocal, account: LocalAccount, hookUrl: string, seed: number, shape: HistoryShape): Promise<HistoryPrices> {
  const stripe: Stripe = createStripeClient(account.test.secret_key, { apiBase: local.url })
  await stripe.webhookEndpoints.create({ url: hookUrl, enabled_events: ['*'] })
  const product = await stripe.products.create({ name: 'Pro plan' })
  const monthly = await stripe.prices.create({ product: product.id, unit_amount: 1000 + (seed % 7) * 250, currency: 'usd', recurring: { interval: 'month' } })
  const yearly = await stripe.prices.create({ product: product.id, unit_amount: 9900 + (seed % 3) * 1000, currency: seed % 4 === 0 ? 'eur' : 'usd', recurring: { interval: 'year' } })
  const pack = await stripe.prices.create({ product_data: { name: 'Credits pack' }, unit_amount: 500 + (seed % 5) * 100, currency: 'usd' })
  const urls = { success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no' }
  const { credits } = shape
  // What our checkout writes into a purchase's metadata: a transaction of its own and the credits it promised.
  const promised = (quantity: number): Record<string, string> =>
    credits ? purchaseMetadata(randomUUID(), credits.packCredits * quantity, credits.expiresInDays) : {}

  for (let i = 0; i < shape.subscribers; i++) {
    const metadata = { end_user_id: `user-${seed}-${i}` }
    const price = i % 3 === 2 ? yearly : monthly
    const session = await stripe.checkout.sessions.create({
      mode: 'subscription', line_items: [{ price: price.id, quantity: 1 + (i % 2) }], client_reference_id: metadata.end_user_id, metadata,
      subscription_data: { metadata }, ...urls,
    })
    const done = await localAction<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
    const subId = String(done.subscription)
    await localAction(local, `/subscriptions/${subId}/renew`)
    if ((seed + i) % 2 === 0) {
      await localAction(local, `/subscriptions/${subId}/fail-payment`)
      await localAction(local, `/subscriptions/${subId}/renew`)
    }
    if ((seed + i) % 3 === 0) await stripe.subscriptions.cancel(subId)
  }
  for (let i = 0; i < shape.oneTime; i++) {
    const quantity = 1 + (i % 3)
    const metadata = { end_user_id: `buyer-${seed}-${i}`, ...promised(quantity) }
    const session = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: pack.id, quantity }], metadata, payment_intent_data: { metadata }, ...urls })
    if (i % 2 === 1) await localAction(local, `/checkout/sessions/${session.id}/fail`)
    const paid = await localAction<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
    if (i % 3 === 1) await stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: 100 })
    if (i % 3 === 2) await stripe.refunds.create({ payment_intent: String(paid.payment_intent) })
  }
  let plan: Stripe.Price | null = null
  if (credits) {
    plan = await stripe.prices.create({ product_data: { name: 'Credits plan' }, unit_amount: 700 + (seed % 4) * 100, currency: 'usd', recurring: { interval: 'month' } })
    // No plan subscription is canceled: customer.subscription.deleted closes the monthly lots granted
    // before it is applied, so one delivered before a period's invoice.paid leaves that period open.
    for (let i = 0; i < credits.planSubscribers; i++) {
      const metadata = { end_user_id: `member-${seed}-${i}` }
      const session = await stripe.checkout.sessions.create({
        mode: 'subscription', line_items: [{ price: plan.id, quantity: 1 + (i % 2) }], metadata,
        subscription_data: { metadata, ...(i === 0 ? { trial_period_days: 7 } : {}) }, ...urls,
      })
      const done = await localAction<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
      const subId = String(done.subscription)
      for (let period = 0; period < credits.renewals; period++) {
        // A declined renewal leaves the period's invoice open; the next renewal pays that same invoice.
        if (period === 1 && i % 2 === 1) await localAction(local, `/subscriptions/${subId}/fail-payment`)
        await localAction(local, `/subscriptions/${subId}/renew`)
      }
    }
    for (let i = 0; i < credits.purchases; i++) {
      const quantity = 1 + (i % 3)
      const metadata = { end_user_id: `credit-buyer-${seed}-${i}`, ...promised(quantity) }
      const session = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: pack.id, quantity }], metadata, payment_intent_data: { metadata }, ...urls })
      const paid = await localAction<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
      // charge.refunded carries the cumulative amount_refunded: a third, two thirds, then (every other purchase) all of it.
      const third = Math.floor((paid.amount_total ?? 0) / 3)
      await stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: third })
      await stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: third })
      if (i % 2 === 0) await stripe.refunds.create({ payment_intent: String(paid.payment_intent) })
    }
    // A purchase without checkout (payment_intent.succeeded alone grants it), by a buyer who also checked out, a quarter refunded.
    const direct = await stripe.paymentIntents.create({
      amount: 900 + seed % 100, currency: 'usd', payment_method: 'pm_card_visa', confirm: true,
      metadata: { end_user_id: `credit-buyer-${seed}-0`, ...promised(2) },
    })
    await stripe.refunds.create({ payment_intent: direct.id, amount: Math.floor(direct.amount / 4) })
  }
  // Neither grants credits, whatever its metadata promised.
  const unpaid = credits ? { metadata: { end_user_id: `buyer-${seed}-0`, ...promised(1) } } : {}
  const intent = await stripe.paymentIntents.create({ amount: 300 + seed, currency: 'usd', ...unpaid })
  await stripe.paymentIntents.cancel(intent.id)
  const abandoned = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: pack.id, quantity: 1 }], ...unpaid, ...(credits ? { payment_intent_data: unpaid } : {}), ...urls })
  await stripe.checkout.sessions.expire(abandoned.id)
  return { pack: pack.id, plan: plan?.id ?? null }
}

/** A plan as the catalog holds it (PUT …/plans/{price}). */
export interface PlanTerms { price: string, creditsPerPeriod: number, trialCredits: number, rollover: boolean }

export interface ExpectedLot { end_user_id: string, source: string, bucket: 'monthly' | 'purchased', granted: number, remaining: number, taken_back: number }

/** A credits purchase of the history: the events that name its grant and the charge.refunded events of its payment. */
export interface HistoryPurchase { source: string, paymentIntent: string, grantEvents: string[], refundEvents: string[], refunded: number, paid: number }

export interface HistoryCredits { lots: ExpectedLot[], purchases: HistoryPurchase[], invoices: number, trials: number }

/**
 * The credits a history grants, from its events alone, by the rules of DESIGN.md (Credits): a purchase
 * keeps what its refunds did not take, `floor(credits × refunded ÷ paid)` (amount_refunded is
 * cumulative, so the largest one counts); each paid invoice of the plan is a monthly lot, and unless
 * the plan rolls over only the newest period of an end user's lots (the trial's included) keeps its credits.
 */
export function historyCredits (bodies: readonly string[], plan: PlanTerms | null): HistoryCredits {
  const purchases = new Map<string, HistoryPurchase & { endUser: string, credits: number }>()
  const refunds = new Map<string, { events: string[], refunded: number }>()
  const monthly: Array<{ endUser: string, source: string, granted: number, periodStart: number }> = []
  const purchase = (eventId: string, metadata: Stripe.Metadata | null, paymentIntent: string | null, paid: number | null) => {
    const transaction = metadata?.[PURCHASE_METADATA.transactionId]
    const endUser = metadata?.end_user_id
    if (!transaction || !endUser || !paymentIntent || !paid) return
    const source = `transaction:${transaction}`
    const known = purchases.get(source) ?? { source, endUser, credits: Number(metadata[PURCHASE_METADATA.credits]), paymentIntent, paid, grantEvents: [], refundEvents: [], refunded: 0 }
    known.grantEvents.push(eventId)
    purchases.set(source, known)
  }
  for (const body of bodies) {
    const event = JSON.parse(body) as Stripe.Event
    if (event.type === 'checkout.session.completed') {
      const session = event.data.object
      if (session.mode === 'payment' && session.payment_status === 'paid') purchase(event.id, session.metadata, idOf(session.payment_intent), session.amount_total)
    } else if (event.type === 'payment_intent.succeeded') {
      const pi = event.data.object
      purchase(event.id, pi.metadata, pi.id, pi.amount_received > 0 ? pi.amount_received : pi.amount)
    } else if (event.type === 'charge.refunded') {
      const charge = event.data.object
      const pi = idOf(charge.payment_intent)
      if (!pi) continue
      const known = refunds.get(pi) ?? { events: [], refunded: 0 }
      known.events.push(event.id)
      known.refunded = Math.max(known.refunded, charge.amount_refunded)
      refunds.set(pi, known)
    } else if (event.type === 'invoice.paid' && plan) {
      const invoice = event.data.object
      const line = invoice.lines.data[0]
      const endUser = invoice.parent?.subscription_details?.metadata?.end_user_id
      if (!invoice.id || invoice.total === 0 || !line || !endUser || idOf(line.pricing?.price_details?.price) !== plan.price) continue
      if (!monthly.some((l) => l.source === `invoice:${invoice.id}`)) {
        monthly.push({ endUser, source: `invoice:${invoice.id}`, granted: plan.creditsPerPeriod * (line.quantity ?? 1), periodStart: line.period.start })
      }
    } else if ((event.type === 'customer.subscription.created' || event.type === 'customer.subscription.updated') && plan && plan.trialCredits > 0) {
      const sub = event.data.object
      const item = sub.items.data[0]
      const endUser = sub.metadata.end_user_id
      if (sub.status !== 'trialing' || !item || !endUser || item.price.id !== plan.price || monthly.some((l) => l.source === `trial:${sub.id}`)) continue
      monthly.push({ endUser, source: `trial:${sub.id}`, granted: plan.trialCredits * (item.quantity ?? 1), periodStart: sub.trial_start ?? 0 })
    }
  }
  const lots: ExpectedLot[] = []
  for (const p of purchases.values()) {
    const refund = refunds.get(p.paymentIntent)
    p.refundEvents = refund?.events ?? []
    p.refunded = refund?.refunded ?? 0
    const taken = Math.floor((p.credits * Math.min(p.refunded, p.paid)) / p.paid)
    lots.push({ end_user_id: p.endUser, source: p.source, bucket: 'purchased', granted: p.credits, remaining: p.credits - taken, taken_back: taken })
  }
  for (const l of monthly) {
    const newest = Math.max(...monthly.filter((m) => m.endUser === l.endUser).map((m) => m.periodStart))
    const kept = plan?.rollover === true || l.periodStart === newest
    lots.push({ end_user_id: l.endUser, source: l.source, bucket: 'monthly', granted: l.granted, remaining: kept ? l.granted : 0, taken_back: 0 })
  }
  lots.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0))
  return {
    lots,
    purchases: [...purchases.values()].map(({ endUser: _e, credits: _c, ...p }) => p),
    invoices: monthly.filter((l) => l.source.startsWith('invoice:')).length,
    trials: monthly.filter((l) => l.source.startsWith('trial:')).length,
  }
}

/** Runs `fn` over `items` with at most `limit` at once. */
export async function pool<T> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      await fn(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

export interface Delivery { key: string, projectId: string, secret: string, body: string, eventId: string }

export interface SendCounters {
  deliveries: number
  attempts: number
  ok: number
  duplicates: number
  serverErrors: number
  clientErrors: number
  connectionErrors: number
  gaveUp: number
  /** 2xx answers that said the event was applied (not a duplicate), per event key. */
  applied: Map<string, number>
  clientErrorSamples: string[]
  done: number
}

/**
 * Sends every delivery like Stripe would: re-signed with a fresh timestamp, to one of the instances
 * (the next one on each retry), retried on 5xx and connection errors with a bounded backoff.
 */
export const newCounters = (deliveries: number): SendCounters =>
  ({ deliveries, attempts: 0, ok: 0, duplicates: 0, serverErrors: 0, clientErrors: 0, connectionErrors: 0, gaveUp: 0, applied: new Map(), clientErrorSamples: [], done: 0 })

export async function sendAll (deliveries: readonly Delivery[], instances: readonly Instance[], c: SendCounters, options: { concurrency: number, maxAttempts: number, onBody?: (body: string) => void }): Promise<SendCounters> {
  await pool(deliveries, options.concurrency, async (d, index) => {
    for (let attempt = 0; attempt < options.maxAttempts; attempt++) {
      const instance = instances[(index + attempt) % instances.length] as Instance
      c.attempts++
      try {
        const res = await fetch(`${instance.url}/api/v1/payments/stripe/webhooks/${d.projectId}/test`, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': signed(d.body, d.secret) },
          body: d.body,
          signal: AbortSignal.timeout(15_000),
        })
        const text = await res.text()
        options.onBody?.(text)
        if (res.status >= 200 && res.status < 300) {
          c.ok++
          const answer = JSON.parse(text) as { duplicate?: boolean }
          if (answer.duplicate) c.duplicates++
          else c.applied.set(d.key, (c.applied.get(d.key) ?? 0) + 1)
          c.done++
          return
        }
        if (res.status >= 500) c.serverErrors++
        else {
          c.clientErrors++
          if (c.clientErrorSamples.length < 5) c.clientErrorSamples.push(`${res.status} ${text.slice(0, 200)}`)
          c.done++
          return
        }
      } catch {
        c.connectionErrors++
      }
      await sleep(Math.min(25 * 2 ** attempt, 1000) + Math.random() * 50)
    }
    c.gaveUp++
    c.done++
  })
  return c
}

/** Restarts the local PostgreSQL 15 cluster, when this machine has pg_ctlcluster; answers why not otherwise. */
export function restartPostgres (): { restarted: boolean, reason: string, ms: number } {
  if (process.env.RELIABILITY_SKIP_PG_RESTART) return { restarted: false, reason: 'RELIABILITY_SKIP_PG_RESTART is set', ms: 0 }
  const which = spawnSync('sh', ['-c', 'command -v pg_ctlcluster'], { encoding: 'utf8' })
  if (which.status !== 0) return { restarted: false, reason: 'pg_ctlcluster is not available', ms: 0 }
  const started = Date.now()
  const out = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', '15', 'main', 'restart', '-m', 'fast'], { encoding: 'utf8', timeout: 60_000 })
  if (out.status !== 0) return { restarted: false, reason: `pg_ctlcluster failed: ${(out.stderr || out.stdout).trim().slice(0, 200)}`, ms: Date.now() - started }
  return { restarted: true, reason: '', ms: Date.now() - started }
}

export async function waitForPostgres (timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const probe = postgres(SERVER_URL, { max: 1, onnotice: () => {}, connect_timeout: 2 })
    try {
      await probe`select 1`
      return
    } catch {
      await sleep(200)
    } finally {
      await probe.end({ timeout: 1 })
    }
  }
  throw new Error('Postgres did not come back')
}

export function shuffle<T> (items: T[], random: () => number = Math.random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const a = items[i] as T
    items[i] = items[j] as T
    items[j] = a
  }
  return items
}

/** A small seeded generator (mulberry32), so a failing run can be repeated with RELIABILITY_SEED. */
export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
