import type { projects, stripeConfigs } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { isoOrNull } from '../../platform/time.ts'

type StripeConfigRow = typeof stripeConfigs.$inferSelect
type ProjectFields = Pick<typeof projects.$inferSelect, 'id' | 'name' | 'createdAt' | 'updatedAt'>

export const webhookUrl = (publicBaseUrl: string, projectId: string, mode: Mode): string =>
  `${publicBaseUrl}/api/v1/payments/stripe/webhooks/${projectId}/${mode}`

export function projectView (p: ProjectFields) {
  return { id: p.id, name: p.name, created_at: p.createdAt.toISOString(), updated_at: p.updatedAt.toISOString() }
}

/** The configuration as anyone may see it: masked key, whether a webhook secret is set, never a secret. */
export function stripeConfigView (publicBaseUrl: string, projectId: string, mode: Mode, row: StripeConfigRow | undefined) {
  return {
    project_id: projectId,
    mode,
    configured: row !== undefined,
    active: row?.active ?? false,
    publishable_key: row?.publishableKey ?? null,
    secret_key_hint: row?.secretKeyHint ?? null,
    webhook_secret_set: Boolean(row?.webhookSecret ?? row?.managedWebhookSecret),
    webhook_endpoint_id: row?.webhookEndpointId ?? null,
    webhook_url: webhookUrl(publicBaseUrl, projectId, mode),
    stripe_account_id: row?.stripeAccountId ?? null,
    livemode: row?.livemode ?? null,
    validated_at: isoOrNull(row?.validatedAt),
    updated_at: isoOrNull(row?.updatedAt),
    version: row?.version ?? 0,
  }
}
