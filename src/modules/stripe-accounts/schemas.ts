import { Type } from '@sinclair/typebox'
import { Mode, Nullable, NullableTimestamp } from '../../platform/http/schemas.ts'

export const StripeConfigView = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
  mode: Mode,
  configured: Type.Boolean(),
  active: Type.Boolean(),
  publishable_key: Nullable(Type.String()),
  secret_key_hint: Nullable(Type.String({ description: 'e.g. sk_test_…4242; the key itself is never returned' })),
  webhook_secret_set: Type.Boolean(),
  webhook_endpoint_id: Nullable(Type.String()),
  webhook_url: Type.String(),
  stripe_account_id: Nullable(Type.String()),
  livemode: Nullable(Type.Boolean()),
  validated_at: NullableTimestamp,
  updated_at: NullableTimestamp,
  version: Type.Integer(),
})

export const PutStripeConfigBody = Type.Object({
  secret_key: Type.String({ minLength: 12, maxLength: 255, pattern: '^(sk|rk)_(test|live)_[A-Za-z0-9]+$', description: 'Secret (sk_) or restricted (rk_) key of this mode' }),
  publishable_key: Type.String({ minLength: 12, maxLength: 255, pattern: '^pk_(test|live)_[A-Za-z0-9]+$' }),
  webhook_secret: Type.Optional(Nullable(Type.String({ minLength: 10, maxLength: 255, pattern: '^whsec_[A-Za-z0-9+/=_-]+$', description: 'Signing secret entered by hand (e.g. from stripe listen); null removes it' }))),
  confirm_account_change: Type.Optional(Type.Boolean({ description: 'Required when the new key belongs to another Stripe account than the validated one' })),
}, { additionalProperties: false })

export const ValidateBody = Type.Object({
  confirm_account_change: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })

export const ValidationResult = Type.Object({
  valid: Type.Boolean(),
  stripe_account_id: Nullable(Type.String()),
  livemode: Nullable(Type.Boolean()),
  reason: Nullable(Type.String({ description: 'Why the key is not valid (Stripe\'s error code), or null' })),
  validated_at: NullableTimestamp,
})

export const WebhookUrls = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
  test: Type.Object({ url: Type.String(), webhook_secret_set: Type.Boolean() }),
  live: Type.Object({ url: Type.String(), webhook_secret_set: Type.Boolean() }),
  events: Type.Array(Type.String(), { description: 'Event types to enable on the Stripe webhook endpoint' }),
})
