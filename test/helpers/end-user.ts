import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type Stripe from 'stripe'
import type { Test } from 'tap'
import type { Harness } from './webhooks.ts'
import { buildApp, type BuildOptions } from '../../src/app.ts'
import { createStripeClient } from '../../src/platform/stripe/client.ts'
import type { StripeLocal } from '../../stripe-local/index.ts'
import {
  bearer, buildTestApp, configureStripe, createProject, endUserToken, newDeveloper, startLocalStripe, testConfig, testDatabase,
} from './app.ts'

/** The app, the local Stripe account and a configured project, as the webhook harness has them. */
export interface Shop extends Pick<Harness, 'app' | 'local' | 'account' | 'stripe' | 'dev' | 'project'> {
  monthly: Stripe.Price
  yearly: Stripe.Price
  monthlyPremium: Stripe.Price
  monthlyEur: Stripe.Price
  oneTime: Stripe.Price
  headers (endUserId: string, claims?: Record<string, unknown>): { authorization: string }
}

export interface ShopOptions {
  /** Limits of the end-user routes; default the app's own. */
  rateLimits?: BuildOptions['rateLimits']
  /** Listen on 127.0.0.1:0 so the local server can deliver webhooks. */
  listen?: boolean
  env?: Record<string, string | undefined>
}

/** A developer, a project configured with a fresh local Stripe account (test mode), and a few prices. */
export async function openShop (t: Test, options: ShopOptions = {}): Promise<Shop> {
  const local = await startLocalStripe(t)
  const env = { STRIPE_API_BASE: local.url, ...options.env }
  let app: FastifyInstance
  if (options.rateLimits) {
    app = await buildApp({ config: testConfig(env), database: (await testDatabase()).database, rateLimits: options.rateLimits })
    t.teardown(() => app.close())
    await app.ready()
  } else {
    app = await buildTestApp(t, { env })
  }
  if (options.listen) await app.listen({ host: '127.0.0.1', port: 0 })
  const account = await local.createAccount()
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  await configureStripe(app, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key })
  const stripe = createStripeClient(account.test.secret_key, { apiBase: local.url })
  const pro = await stripe.products.create({ name: 'Pro' })
  const premium = await stripe.products.create({ name: 'Premium' })
  const [monthly, yearly, monthlyPremium, monthlyEur, oneTime] = await Promise.all([
    stripe.prices.create({ product: pro.id, unit_amount: 2000, currency: 'usd', recurring: { interval: 'month' } }),
    stripe.prices.create({ product: pro.id, unit_amount: 20000, currency: 'usd', recurring: { interval: 'year' } }),
    stripe.prices.create({ product: premium.id, unit_amount: 5000, currency: 'usd', recurring: { interval: 'month' } }),
    stripe.prices.create({ product: pro.id, unit_amount: 1800, currency: 'eur', recurring: { interval: 'month' } }),
    stripe.prices.create({ product_data: { name: 'Credits pack' }, unit_amount: 1099, currency: 'usd' }),
  ])
  if (!monthly || !yearly || !monthlyPremium || !monthlyEur || !oneTime) throw new Error('prices not created')
  return {
    app, local, account, stripe, dev, project, monthly, yearly, monthlyPremium, monthlyEur, oneTime,
    headers: (endUserId, claims = {}) => bearer(endUserToken(project.id, endUserId, project.end_user_secret, claims)),
  }
}

/** Points a local webhook endpoint at the app's webhook route and stores its signing secret in the project's config. */
export async function connectWebhooks (shop: Shop): Promise<void> {
  const address = shop.app.server.address() as AddressInfo
  const url = `http://127.0.0.1:${address.port}/api/v1/payments/stripe/webhooks/${shop.project.id}/test`
  const endpoint = await shop.stripe.webhookEndpoints.create({ url, enabled_events: ['*'] })
  if (!endpoint.secret) throw new Error('webhook endpoint without secret')
  await configureStripe(shop.app, shop.dev, shop.project.id, {
    secret_key: shop.account.test.secret_key, publishable_key: shop.account.test.publishable_key, webhook_secret: endpoint.secret,
  })
}

export const URLS = { success_url: 'https://shop.example/success?session={CHECKOUT_SESSION_ID}', cancel_url: 'https://shop.example/cancel' }

export async function startCheckout (shop: Shop, endUserId: string, body: Record<string, unknown>, query = ''): Promise<LightMyRequestResponse> {
  return shop.app.inject({
    method: 'POST', url: `/api/v1/payments/stripe/checkout-session${query}`, headers: shop.headers(endUserId), payload: { ...URLS, ...body },
  })
}

export async function endUserCall (shop: Shop, endUserId: string, method: 'GET' | 'POST', path: string, payload?: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return shop.app.inject({ method, url: `/api/v1/payments/stripe/${path}`, headers: shop.headers(endUserId), ...(payload ? { payload } : {}) })
}

/** POST to a `_local` lifecycle route of the local server. */
export async function localAction<T = Record<string, unknown>> (local: StripeLocal, path: string, body: Record<string, string> = {}): Promise<T> {
  const res = await fetch(`${local.url}/_local${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json() as T
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

/** Stores a Stripe subscription as the webhook would (same apply, same stats), for tests that run without webhooks. */
export async function seedSubscription (shop: Shop, sub: Stripe.Subscription): Promise<void> {
  const { subscriptionEffect } = await import('../../src/modules/payments/effects.ts')
  const { applyJob } = await import('../../src/webhooks/pipeline/apply.ts')
  const scope = { project: { id: shop.project.id, developerId: shop.dev.id }, mode: 'test' as const, event: { id: `evt_seed_${sub.id}`, created: sub.created } }
  await applyJob(shop.app.db, { record: null, effects: [subscriptionEffect(scope, sub, false)] }, { slot: 0 })
}

/** Subscribes an end user through our checkout and pays at the local server; answers Stripe's subscription. */
export async function subscribe (shop: Shop, endUserId: string, body: Record<string, unknown> = {}): Promise<Stripe.Subscription> {
  const res = await startCheckout(shop, endUserId, { price_id: shop.monthly.id, ...body })
  if (res.statusCode !== 201) throw new Error(`checkout: ${res.statusCode} ${res.body}`)
  const sessionId = res.json<{ session_id: string }>().session_id
  await localAction(shop.local, `/checkout/sessions/${sessionId}/complete`)
  const session = await shop.stripe.checkout.sessions.retrieve(sessionId)
  return shop.stripe.subscriptions.retrieve(session.subscription as string)
}
