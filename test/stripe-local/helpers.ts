import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type Stripe from 'stripe'
import { createStripeClient } from '../../src/platform/stripe/client.ts'
import { startStripeLocal, type LocalAccount, type StartOptions, type StripeLocal } from '../../stripe-local/index.ts'

export interface Setup { local: StripeLocal; account: LocalAccount; stripe: Stripe }

/** A fresh server on an ephemeral port with one account, closed when the test ends. */
export async function setup (t: Test, opts: StartOptions = {}): Promise<Setup> {
  const local = await startStripeLocal({ port: 0, retry: { maxAttempts: 4, baseDelayMs: 25 }, ...opts })
  t.teardown(() => local.close())
  const account = await local.createAccount()
  return { local, account, stripe: client(local, account.test.secret_key) }
}

export const client = (local: StripeLocal, key: string): Stripe => createStripeClient(key, { apiBase: local.url })

export interface Received { body: string; headers: IncomingHttpHeaders; event: Stripe.Event }

/** A webhook target on 127.0.0.1:0 that records raw bodies; `status(n)` picks the reply to the n-th request. */
export async function receiver (t: Test, status: (n: number, event: Stripe.Event) => number = () => 200) {
  const received: Received[] = []
  let count = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const event = JSON.parse(body) as Stripe.Event
      const code = status(++count, event)
      if (code >= 200 && code < 300) received.push({ body, headers: req.headers, event })
      res.writeHead(code).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.close(() => resolve()); server.closeAllConnections() }))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`
  return { url, received, types: () => received.map(r => r.event.type), requests: () => count }
}

export async function webhook (stripe: Stripe, url: string, events: Stripe.WebhookEndpointCreateParams.EnabledEvent[] = ['*']): Promise<string> {
  const endpoint = await stripe.webhookEndpoints.create({ url, enabled_events: events })
  if (!endpoint.secret) throw new Error('webhook endpoint without secret')
  return endpoint.secret
}

export async function monthlyPrice (stripe: Stripe, amount = 2000): Promise<Stripe.Price> {
  const product = await stripe.products.create({ name: 'Pro plan' })
  return stripe.prices.create({ product: product.id, unit_amount: amount, currency: 'usd', recurring: { interval: 'month' } })
}

export async function oneTimePrice (stripe: Stripe, amount = 1099): Promise<Stripe.Price> {
  return stripe.prices.create({ product_data: { name: 'Credits pack' }, unit_amount: amount, currency: 'usd' })
}

/** POST to a `_local` dashboard route; returns the JSON answer. */
export async function dashboard<T = Record<string, unknown>> (local: StripeLocal, path: string, body: Record<string, string | number | boolean> = {}): Promise<T> {
  const res = await fetch(`${local.url}/_local${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json() as T
  if (!res.ok) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

export async function subscriptionCheckout (stripe: Stripe, price: Stripe.Price, extra: Partial<Stripe.Checkout.SessionCreateParams> = {}): Promise<Stripe.Checkout.Session> {
  return stripe.checkout.sessions.create({
    mode: 'subscription', line_items: [{ price: price.id, quantity: 1 }],
    success_url: 'https://app.example/success', cancel_url: 'https://app.example/cancel', ...extra,
  })
}
