import type Stripe from 'stripe'
import type { Config } from '../../config.ts'
import type { Db } from '../../platform/db/client.ts'
import { associatedData, seal } from '../../platform/crypto.ts'
import { AppError, notFound } from '../../platform/http/errors.ts'
import { STRIPE_API_VERSION, type Mode } from '../../platform/stripe/client.ts'
import { fromStripeError, isStripeError } from '../../platform/stripe/errors.ts'
import { webhookUrl } from './views.ts'
import type { ChangeFeed } from '../../platform/db/changes.ts'
import type { StripeResolver } from './resolver.ts'
import { ownedProject } from '../projects/service.ts'
import { findConfig, updateConfig } from './repository.ts'
import { HANDLED_EVENT_TYPES } from '../../webhooks/registry.ts'

export interface WebhookEndpointDeps {
  db: Db
  config: Pick<Config, 'encryptionKeys' | 'publicBaseUrl'>
  changes: ChangeFeed
  resolver: StripeResolver
}

export interface ManagedEndpointResult {
  project_id: string
  mode: Mode
  webhook_endpoint_id: string
  url: string
  enabled_events: string[]
  api_version: string | null
  created: boolean
  removed_endpoint_ids: string[]
}

const isMissing = (err: unknown) => isStripeError(err) && (err.statusCode === 404 || err.code === 'resource_missing')

/** Every endpoint of the account, page by page (an account has at most a few dozen). */
async function allEndpoints (stripe: Stripe): Promise<Stripe.WebhookEndpoint[]> {
  const out: Stripe.WebhookEndpoint[] = []
  for await (const endpoint of stripe.webhookEndpoints.list({ limit: 100 })) {
    out.push(endpoint)
    if (out.length >= 1000) break
  }
  return out
}

/**
 * Managed webhook endpoints: one Stripe endpoint per project and mode, pointing at our URL with the
 * events we handle, the API version our SDK pins, and our project id in its metadata. Its signing
 * secret is only returned on creation, so an endpoint we hold no secret for is replaced.
 */
export function createWebhookEndpointService ({ db, config, changes, resolver }: WebhookEndpointDeps) {
  async function stripeOf (projectId: string, mode: Mode): Promise<Stripe> {
    const resolved = await resolver.resolve(projectId, mode)
    if (!resolved) throw new AppError(409, 'stripe_not_configured', 'Conflict', `The project has no ${mode} Stripe configuration`)
    return resolved.stripe
  }

  async function ensure (projectId: string, mode: Mode): Promise<ManagedEndpointResult> {
    const url = webhookUrl(config.publicBaseUrl, projectId, mode)
    const stripe = await stripeOf(projectId, mode)
    const row = await findConfig(db, projectId, mode)
    try {
      const endpoints = await allEndpoints(stripe)
      const ours = endpoints.filter((e) => e.metadata?.project_id === projectId && (e.metadata.mode === undefined || e.metadata.mode === mode))
      const reusable = ours.find((e) => e.id === row?.webhookEndpointId && e.url === url && row?.managedWebhookSecret && e.status === 'enabled')
      // Tagged with our project but pointing elsewhere (an old PUBLIC_BASE_URL), or ours without a secret we hold: remove.
      const stale = ours.filter((e) => e !== reusable && (e.url !== url || !reusable))
      const removed: string[] = []
      for (const e of stale) {
        try { await stripe.webhookEndpoints.del(e.id) } catch (err) { if (!isMissing(err)) throw err }
        removed.push(e.id)
      }
      if (reusable) {
        const needsUpdate = HANDLED_EVENT_TYPES.some((t) => !reusable.enabled_events.includes(t))
        const endpoint = needsUpdate ? await stripe.webhookEndpoints.update(reusable.id, { enabled_events: [...HANDLED_EVENT_TYPES] }) : reusable
        return view(projectId, mode, endpoint, false, removed)
      }
      const created = await stripe.webhookEndpoints.create({
        url,
        enabled_events: [...HANDLED_EVENT_TYPES],
        api_version: STRIPE_API_VERSION,
        description: `stripe-platform project ${projectId} (${mode})`,
        metadata: { project_id: projectId, mode },
      })
      if (!created.secret) throw new AppError(502, 'stripe_no_endpoint_secret', 'Bad gateway', 'Stripe did not return the new endpoint\'s signing secret')
      const sealed = seal(config, created.secret, associatedData(projectId, mode, 'managed_webhook_secret'))
      await changes.commit(db, async (tx) => {
        const updated = await updateConfig(tx, projectId, mode, { webhookEndpointId: created.id, webhookEndpointUrl: url, managedWebhookSecret: sealed })
        if (!updated) throw notFound('stripe configuration')
        return { value: updated, change: { kind: 'stripe_config', projectId, mode, version: updated.version } }
      })
      return view(projectId, mode, created, true, removed)
    } catch (err) {
      if (err instanceof AppError) throw err
      throw fromStripeError(err)
    }
  }

  return {
    /** POST .../webhook-endpoint: create, or find and reuse, the managed endpoint. */
    async ensureOwned (developerId: string, projectId: string, mode: Mode): Promise<ManagedEndpointResult> {
      await ownedProject(db, developerId, projectId)
      return ensure(projectId, mode)
    },

    /**
     * After the secret key of a mode changed: is the managed endpoint still reachable with the new
     * key (the same Stripe account)? If not, create it again for the new account.
     */
    async recheckAfterKeyChange (projectId: string, mode: Mode): Promise<'none' | 'ok' | 'recreated'> {
      const row = await findConfig(db, projectId, mode)
      if (!row?.webhookEndpointId) return 'none'
      const stripe = await stripeOf(projectId, mode)
      try {
        const endpoint = await stripe.webhookEndpoints.retrieve(row.webhookEndpointId)
        if (endpoint.url === webhookUrl(config.publicBaseUrl, projectId, mode)) return 'ok'
      } catch (err) {
        if (!isMissing(err)) throw fromStripeError(err)
      }
      await ensure(projectId, mode)
      return 'recreated'
    },
  }
}

function view (projectId: string, mode: Mode, e: Stripe.WebhookEndpoint, created: boolean, removed: string[]): ManagedEndpointResult {
  return {
    project_id: projectId, mode, webhook_endpoint_id: e.id, url: e.url, enabled_events: [...e.enabled_events],
    api_version: e.api_version ?? null, created, removed_endpoint_ids: removed,
  }
}
