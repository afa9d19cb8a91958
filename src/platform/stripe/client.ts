import Stripe from 'stripe'

export type Mode = 'test' | 'live'

export interface StripeClientOptions {
  /** Send every call to this origin instead of api.stripe.com (the local Stripe-compatible server). */
  apiBase?: string | undefined
  timeoutMs?: number
  maxNetworkRetries?: number
}

/** The API version the installed SDK pins; webhook endpoints we create ask for the same. */
export const STRIPE_API_VERSION = Stripe.API_VERSION as Stripe.LatestApiVersion

/** The only place in the code base that constructs a Stripe client. */
export function createStripeClient (secretKey: string, options: StripeClientOptions = {}): Stripe {
  const config: Stripe.StripeConfig = {
    apiVersion: STRIPE_API_VERSION,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 20_000,
    telemetry: false,
  }
  if (options.apiBase) {
    const base = new URL(options.apiBase)
    config.host = base.hostname
    config.protocol = base.protocol === 'http:' ? 'http' : 'https'
    config.port = base.port || (config.protocol === 'http' ? 80 : 443)
  }
  return new Stripe(secretKey, config)
}

export function modeOfKey (key: string): Mode | null {
  if (/^(sk|rk|pk)_test_/.test(key)) return 'test'
  if (/^(sk|rk|pk)_live_/.test(key)) return 'live'
  return null
}
