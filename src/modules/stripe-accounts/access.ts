import { createHash } from 'node:crypto'
import Stripe from 'stripe'
import { AppError } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { fromStripeError } from '../../platform/stripe/errors.ts'
import type { ResolvedStripe, StripeResolver } from './resolver.ts'

export const notConfigured = (mode: Mode, inactive = false): AppError =>
  new AppError(409, 'stripe_not_configured', 'Conflict', inactive
    ? `The project's ${mode} Stripe configuration is deactivated`
    : `The project has no ${mode} Stripe configuration`)

/** The project's client for a mode; `requireActive` refuses a deactivated configuration (no new checkouts or portal sessions). */
export async function stripeFor (resolver: StripeResolver, projectId: string, mode: Mode, requireActive: boolean): Promise<ResolvedStripe> {
  const resolved = await resolver.resolve(projectId, mode)
  if (!resolved) throw notConfigured(mode)
  if (requireActive && !resolved.active) throw notConfigured(mode, true)
  return resolved
}

/** Runs one Stripe call; any failure leaves as a problem (402/400/502/503/504) naming Stripe's code. */
export async function callStripe<T> (call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    if (err instanceof Stripe.errors.StripeIdempotencyError) {
      throw new AppError(409, 'idempotency_key_reused', 'Conflict', 'This Idempotency-Key was already used with different parameters')
    }
    throw fromStripeError(err)
  }
}

/** A Stripe Idempotency-Key from parts that may be long or personal: hashed, so only its purpose shows. */
export function idempotencyKey (purpose: string, ...parts: string[]): string {
  return `${purpose}-${createHash('sha256').update(parts.join('\u0000')).digest('hex')}`
}
