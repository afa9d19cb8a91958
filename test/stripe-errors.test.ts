import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createStripeClient } from '../src/platform/stripe/client.ts'
import { fromStripeError } from '../src/platform/stripe/errors.ts'

/** An HTTP server on 127.0.0.1 that reads requests and never answers them. */
async function silentServer (t: { teardown (fn: () => Promise<void>): void }): Promise<string> {
  const server: Server = createServer(() => {})
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const KEY = 'sk_test_51TimeoutCheckAbcdefghijklmnop'

t.test('Stripe not answering in time is a 504 stripe_timeout, naming no key', async (t) => {
  const stripe = createStripeClient(KEY, { apiBase: await silentServer(t), timeoutMs: 200, maxNetworkRetries: 0 })
  const started = Date.now()
  const err = await stripe.invoices.retrieve('in_slow').then(() => null, (e: unknown) => e)
  t.ok(Date.now() - started < 5_000, 'gave up after the timeout')
  const problem = fromStripeError(err)
  t.equal(problem.status, 504)
  t.equal(problem.code, 'stripe_timeout')
  t.notMatch(`${problem.message} ${JSON.stringify(problem)}`, /sk_test/, 'no key in the problem')
})

t.test('Stripe unreachable (connection refused) is a 502 stripe_unreachable', async (t) => {
  const closed = createServer(() => {})
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => resolve()))
  const stripe = createStripeClient(KEY, { apiBase: `http://127.0.0.1:${port}`, timeoutMs: 2_000, maxNetworkRetries: 0 })
  const problem = fromStripeError(await stripe.invoices.retrieve('in_nowhere').then(() => null, (e: unknown) => e))
  t.equal(problem.status, 502)
  t.equal(problem.code, 'stripe_unreachable')
})
