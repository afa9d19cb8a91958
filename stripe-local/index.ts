import type { DeliveryRecord } from './delivery.ts'
import { parseDeliveryOptions } from './local-routes.ts'
import { Reader } from './form.ts'
import { LocalServer } from './server.ts'
import { accountView } from './store.ts'

export type { DeliveryRecord } from './delivery.ts'
export { signPayload, signatureHeader } from './delivery.ts'
export { parseForm } from './form.ts'
export { API_VERSION } from './objects/index.ts'

export interface LocalAccount {
  account_id: string
  test: { secret_key: string; publishable_key: string; restricted_key: string }
  live: { secret_key: string; publishable_key: string; restricted_key: string }
}

export interface DeliveryOptionsInput {
  /** 0..1: the probability that an event is sent twice; 1 = every event twice */
  duplicate?: number
  /** permute each queued batch before sending */
  shuffle?: boolean
  /** wait this long before each send */
  delay_ms?: number
}

export interface StripeLocal {
  url: string
  port: number
  close (): Promise<void>
  createAccount (): Promise<LocalAccount>
  /** Resolves when no webhook delivery is queued, in flight or waiting for a retry. */
  idle (): Promise<void>
  setDeliveryOptions (accountId: string, o: DeliveryOptionsInput): void
  deliveries (accountId: string): DeliveryRecord[]
  /** false: the endpoint is down, every delivery to it is dropped and marked failed (a missed webhook); true: delivered again. */
  setEndpointDelivery (endpointId: string, enabled: boolean): void
  /** The account's next `count` API requests answer 429 with `Retry-After: retryAfter` seconds. */
  rateLimit (accountId: string, count: number, retryAfter?: number): void
}

export interface StartOptions {
  /** 0 = ephemeral; default 12111 */
  port?: number
  host?: string
  retry?: { maxAttempts?: number; baseDelayMs?: number }
}

/** Starts the local Stripe-compatible server (in-process); see DESIGN.md "The local Stripe-compatible server". */
export async function startStripeLocal (opts: StartOptions = {}): Promise<StripeLocal> {
  const server = new LocalServer({ port: opts.port ?? 12111, host: opts.host ?? '127.0.0.1', retry: opts.retry ?? {} })
  await server.listen()
  return {
    url: server.url,
    port: server.port,
    close: () => server.close(),
    createAccount: async (): Promise<LocalAccount> => accountView(server.store.createAccount()),
    idle: () => server.delivery.idle(),
    setDeliveryOptions (accountId, o) {
      const account = server.store.accounts.get(accountId)
      if (!account) throw new Error(`stripe-local: no account ${accountId}`)
      const params: Record<string, string> = {}
      for (const [k, v] of Object.entries(o)) if (v !== undefined) params[k] = String(v)
      Object.assign(account.delivery, parseDeliveryOptions(new Reader(params)))
    },
    deliveries: accountId => server.delivery.deliveries(accountId),
    setEndpointDelivery (endpointId, enabled) {
      for (const account of server.store.accounts.values()) {
        for (const mode of ['test', 'live'] as const) {
          const endpoint = account.modes[mode].get('webhook_endpoint', endpointId)
          if (endpoint) { endpoint.dropDeliveries = !enabled; return }
        }
      }
      throw new Error(`stripe-local: no webhook endpoint ${endpointId}`)
    },
    rateLimit (accountId, count, retryAfter = 1) {
      const account = server.store.accounts.get(accountId)
      if (!account) throw new Error(`stripe-local: no account ${accountId}`)
      account.rateLimit = { remaining: count, retryAfter }
    },
  }
}
