import fp from 'fastify-plugin'
import { LRUCache } from 'lru-cache'
import type Stripe from 'stripe'
import { associatedData, open } from '../../platform/crypto.ts'
import { createStripeClient, type Mode } from '../../platform/stripe/client.ts'
import { findConfigWithOwner } from './repository.ts'

/** What a request needs to talk to a project's Stripe account, decrypted once per configuration version. */
export interface ResolvedStripe {
  stripe: Stripe
  projectId: string
  /** The project's developer (stats rows and direct writes are scoped by it). */
  developerId: string
  mode: Mode
  version: number
  active: boolean
  stripeAccountId: string | null
  /** Every signing secret that verifies this project's webhooks in this mode (manual and managed). */
  webhookSecrets: string[]
}

export interface ResolverStats { hits: number, misses: number, queries: number, decryptions: number, invalidations: number, size: number }

export interface StripeResolver {
  /** null when the project has no configuration for that mode. */
  resolve (projectId: string, mode: Mode): Promise<ResolvedStripe | null>
  stats (): ResolverStats
}

declare module 'fastify' {
  interface FastifyInstance { stripeResolver: StripeResolver }
}

export default fp(async (app) => {
  const { config } = app
  const cache = new LRUCache<string, ResolvedStripe>({ max: config.stripeClientCacheSize })
  const counters = { hits: 0, misses: 0, queries: 0, decryptions: 0, invalidations: 0 }
  // The newest version announced per key: a load that read an older one (it raced the change) is
  // used once but not cached. `resets` covers a dropped listener, when anything may have been missed.
  const announced = new LRUCache<string, number>({ max: config.stripeClientCacheSize })
  let resets = 0
  const keyOf = (projectId: string, mode: Mode) => `${projectId}:${mode}`

  app.changes.subscribe((change) => {
    if (change.kind !== 'stripe_config') return
    const key = keyOf(change.projectId, change.mode)
    announced.set(key, Math.max(announced.get(key) ?? 0, change.version))
    const cached = cache.get(key)
    if (cached && cached.version < change.version) {
      cache.delete(key)
      counters.invalidations++
    }
  }, () => {
    resets++
    counters.invalidations += cache.size
    cache.clear()
  })

  async function load (projectId: string, mode: Mode): Promise<ResolvedStripe | null> {
    counters.queries++
    const row = await findConfigWithOwner(app.db, projectId, mode)
    if (!row) return null
    const decrypt = (sealed: string, field: 'secret_key' | 'webhook_secret' | 'managed_webhook_secret') => {
      counters.decryptions++
      return open(config, sealed, associatedData(projectId, mode, field))
    }
    const webhookSecrets = [
      row.webhookSecret ? decrypt(row.webhookSecret, 'webhook_secret') : null,
      row.managedWebhookSecret ? decrypt(row.managedWebhookSecret, 'managed_webhook_secret') : null,
    ].filter((s): s is string => s !== null)
    return {
      stripe: createStripeClient(decrypt(row.secretKey, 'secret_key'), { apiBase: config.stripeApiBase }),
      projectId,
      developerId: row.developerId,
      mode,
      version: row.version,
      active: row.active,
      stripeAccountId: row.stripeAccountId,
      webhookSecrets,
    }
  }

  app.decorate('stripeResolver', {
    async resolve (projectId, mode) {
      const key = keyOf(projectId, mode)
      const hit = cache.get(key)
      if (hit) {
        counters.hits++
        return hit
      }
      counters.misses++
      const started = resets
      const resolved = await load(projectId, mode)
      // Unconfigured projects are not cached: the first PUT must take effect without a NOTIFY race.
      if (resolved && started === resets && resolved.version >= (announced.get(key) ?? 0)) cache.set(key, resolved)
      return resolved
    },
    stats: () => ({ ...counters, size: cache.size }),
  } satisfies StripeResolver)
}, { name: 'stripe-resolver', dependencies: ['db', 'changes'] })
