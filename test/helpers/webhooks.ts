import { randomBytes } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type Stripe from 'stripe'
import { sql } from 'drizzle-orm'
import { queryRows, type Database } from '../../src/platform/db/client.ts'
import { createStripeClient } from '../../src/platform/stripe/client.ts'
import { signatureHeader, type LocalAccount, type StripeLocal } from '../../stripe-local/index.ts'
import { dashboard, monthlyPrice, oneTimePrice, receiver } from '../stripe-local/helpers.ts'
import { freePort } from '../reliability/helpers/harness.ts'
import { buildTestApp, configureStripe, createProject, newDeveloper, startLocalStripe, type CreatedProject, type Developer } from './app.ts'

export const webhookPath = (projectId: string, mode: 'test' | 'live' = 'test') => `/api/v1/payments/stripe/webhooks/${projectId}/${mode}`

export interface Harness {
  app: FastifyInstance
  local: StripeLocal
  account: LocalAccount
  /** The project's Stripe account, through the SDK (as the developer's dashboard would act). */
  stripe: Stripe
  dev: Developer
  project: CreatedProject
  baseUrl: string
  /** The signing secret stripe-local signs this project's test-mode deliveries with. */
  secret: string
}

export interface HarnessOptions {
  /** Reuse another harness's local server and account (several app instances, one Stripe). */
  local?: StripeLocal
  database?: Database
  /** false: no endpoint is registered at stripe-local (the test signs its own deliveries). */
  endpoint?: boolean
}

/**
 * The app listening on 127.0.0.1 (so stripe-local can deliver to it), a project configured with a
 * stripe-local account's test keys, and a webhook endpoint at stripe-local pointing at the project's URL.
 */
export async function webhookHarness (t: Test, options: HarnessOptions = {}): Promise<Harness> {
  const local = options.local ?? await startLocalStripe(t)
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url, PUBLIC_BASE_URL: baseUrl }, ...(options.database ? { database: options.database } : {}) })
  await app.listen({ port, host: '127.0.0.1' })
  const account = await local.createAccount()
  const stripe = createStripeClient(account.test.secret_key, { apiBase: local.url })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  let secret = ''
  if (options.endpoint !== false) {
    const endpoint = await stripe.webhookEndpoints.create({ url: `${baseUrl}${webhookPath(project.id)}`, enabled_events: ['*'] })
    secret = endpoint.secret ?? ''
  } else {
    secret = `whsec_test_${project.id.replaceAll('-', '')}`
  }
  await configureStripe(app, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: secret })
  return { app, local, account, stripe, dev, project, baseUrl, secret }
}

export function signed (payload: string, secret: string | string[], timestamp = Math.floor(Date.now() / 1000)): string {
  const secrets = Array.isArray(secret) ? secret : [secret]
  const parts = secrets.map((s) => signatureHeader(s, timestamp, payload).split(',')[1])
  return [`t=${timestamp}`, ...parts].join(',')
}

export async function postEvent (app: FastifyInstance, projectId: string, payload: string | Buffer, signature: string | undefined, options: { mode?: 'test' | 'live', contentType?: string } = {}): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url: webhookPath(projectId, options.mode ?? 'test'),
    payload,
    headers: { 'content-type': options.contentType ?? 'application/json; charset=utf-8', ...(signature !== undefined ? { 'stripe-signature': signature } : {}) },
  })
}

let counter = 0
/** A minimal, valid event of any type (for the pipeline tests that do not need stripe-local). */
export function fakeEvent (type: string, object: Record<string, unknown>, extra: Record<string, unknown> = {}): Stripe.Event {
  counter++
  return {
    id: `evt_test${Date.now()}${counter}${Math.random().toString(36).slice(2, 8)}`,
    object: 'event',
    api_version: '2026-10-28.endive',
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    ...extra,
  } as unknown as Stripe.Event
}

export interface ProjectSnapshot {
  subscriptions: Array<Record<string, unknown>>
  transactions: Array<Record<string, unknown>>
  daily: Array<Record<string, unknown>>
  current: Array<Record<string, unknown>>
}

const plain = (rows: Array<Record<string, unknown>>) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? Number(v) : v])))

/** Everything the webhooks maintain for a project, without ids or housekeeping times, stats summed over shards. */
export async function projectSnapshot (app: FastifyInstance, projectId: string): Promise<ProjectSnapshot> {
  const subscriptions = await queryRows(app.db, sql`select end_user_id, stripe_customer_id, stripe_subscription_id, status, price_id, product_id, quantity, amount::int as amount, currency,
      interval, interval_count, current_period_start, current_period_end, trial_end, cancel_at_period_end, canceled_at, ended_at, stripe_created_at
    from subscriptions where project_id = ${projectId} order by stripe_subscription_id`)
  const transactions = await queryRows(app.db, sql`select end_user_id, kind, status, amount::int as amount, amount_refunded::int as amount_refunded, currency, description,
      stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, succeeded_at, failed_at, refunded_at
    from transactions where project_id = ${projectId} order by stripe_payment_intent_id nulls last, stripe_invoice_id nulls last, stripe_checkout_session_id nulls last`)
  const daily = await queryRows(app.db, sql`select mode, day::text as day, currency, sum(gross)::int as gross, sum(refunded)::int as refunded, sum(succeeded_count)::int as succeeded_count,
      sum(failed_count)::int as failed_count, sum(new_subscriptions)::int as new_subscriptions, sum(canceled_subscriptions)::int as canceled_subscriptions
    from stats_daily where project_id = ${projectId} group by mode, day, currency
    having sum(gross) <> 0 or sum(refunded) <> 0 or sum(succeeded_count) <> 0 or sum(failed_count) <> 0 or sum(new_subscriptions) <> 0 or sum(canceled_subscriptions) <> 0
    order by mode, day, currency`)
  const current = await queryRows(app.db, sql`select mode, currency, sum(active)::int as active, sum(trialing)::int as trialing, sum(past_due)::int as past_due, sum(canceled)::int as canceled,
      sum(incomplete)::int as incomplete, sum(unpaid)::int as unpaid, sum(paused)::int as paused, sum(mrr)::int as mrr
    from stats_subscriptions where project_id = ${projectId} group by mode, currency
    having sum(active) <> 0 or sum(trialing) <> 0 or sum(past_due) <> 0 or sum(canceled) <> 0 or sum(incomplete) <> 0 or sum(unpaid) <> 0 or sum(paused) <> 0 or sum(mrr) <> 0
    order by mode, currency`)
  return { subscriptions: plain(subscriptions), transactions: plain(transactions), daily: plain(daily), current: plain(current) }
}

/**
 * A trigger that makes the database refuse any transactions row with this payment intent (raise
 * exception), as a value it cannot store would; dropped at the end of the test, or by `remove()`.
 */
export async function refuseTransactionsOf (t: Test, app: FastifyInstance, paymentIntentId: string): Promise<{ remove (): Promise<void> }> {
  const fn = sql.identifier(`refuse_${randomBytes(4).toString('hex')}`)
  await app.db.execute(sql`create function ${fn}() returns trigger language plpgsql as $$ begin
      if new.stripe_payment_intent_id = ${sql.raw(`'${paymentIntentId.replace(/[^A-Za-z0-9_]/g, '')}'`)} then raise exception 'injected failure'; end if; return new; end $$`)
  await app.db.execute(sql`create trigger ${fn} before insert or update on transactions for each row execute function ${fn}()`)
  // Two statements: PGlite runs one per call.
  const remove = async () => {
    await app.db.execute(sql`drop trigger if exists ${fn} on transactions`)
    await app.db.execute(sql`drop function if exists ${fn}()`)
  }
  t.teardown(() => remove().catch(() => {}))
  return { remove }
}

export async function eventStatuses (app: FastifyInstance, projectId: string): Promise<Array<{ id: string, type: string, status: string, attempts: number }>> {
  return queryRows(app.db, sql`select id, type, status, attempts from webhook_events where project_id = ${projectId} order by received_at, id`)
}

/**
 * One account's full lifecycle, recorded once from the local Stripe server: a subscription checkout,
 * a renewal, a failed renewal and its recovery, a one-time payment with a declined first attempt and a
 * partial refund, a canceled payment intent, an expired checkout, a renamed product and a deactivated
 * price, and the subscription's cancellation.
 */
export async function recordLifecycle (t: Test, h: Harness): Promise<string[]> {
  const hook = await receiver(t)
  await h.stripe.webhookEndpoints.create({ url: hook.url, enabled_events: ['*'] })
  const metadata = { end_user_id: 'user-42' }
  const price = await monthlyPrice(h.stripe, 1500)
  const subSession = await h.stripe.checkout.sessions.create({
    mode: 'subscription', line_items: [{ price: price.id, quantity: 2 }], client_reference_id: 'user-42', metadata,
    subscription_data: { metadata }, success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no',
  })
  const done = await dashboard<Stripe.Checkout.Session>(h.local, `/checkout/sessions/${subSession.id}/complete`)
  const subId = String(done.subscription)
  await dashboard(h.local, `/subscriptions/${subId}/renew`)
  await dashboard(h.local, `/subscriptions/${subId}/fail-payment`)
  await dashboard(h.local, `/subscriptions/${subId}/renew`)
  await dashboard(h.local, `/subscriptions/${subId}/pause`)
  await h.stripe.subscriptions.resume(subId)

  const pack = await oneTimePrice(h.stripe, 990)
  const paySession = await h.stripe.checkout.sessions.create({
    mode: 'payment', line_items: [{ price: pack.id, quantity: 1 }], metadata, payment_intent_data: { metadata },
    success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no',
  })
  await dashboard(h.local, `/checkout/sessions/${paySession.id}/fail`)
  const paid = await dashboard<Stripe.Checkout.Session>(h.local, `/checkout/sessions/${paySession.id}/complete`)
  await h.stripe.refunds.create({ payment_intent: String(paid.payment_intent), amount: 190 })
  const intent = await h.stripe.paymentIntents.create({ amount: 300, currency: 'usd' })
  await h.stripe.paymentIntents.cancel(intent.id)
  const abandoned = await h.stripe.checkout.sessions.create({
    mode: 'payment', line_items: [{ price: pack.id, quantity: 1 }], success_url: 'https://app.example/ok', cancel_url: 'https://app.example/no',
  })
  await h.stripe.checkout.sessions.expire(abandoned.id)
  // The catalog's refreshes: a renamed product and a deactivated price.
  await h.stripe.products.update(String(price.product), { name: 'Pro plan (renamed)' })
  await h.stripe.prices.update(pack.id, { active: false })
  await h.stripe.subscriptions.cancel(subId)
  await h.local.idle()
  return hook.received.map((r) => r.body)
}

