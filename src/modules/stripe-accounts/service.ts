import type { Config } from '../../config.ts'
import type { Db, Tx } from '../../platform/db/client.ts'
import { associatedData, keyHint, seal } from '../../platform/crypto.ts'
import { badRequest, conflict, notFound } from '../../platform/http/errors.ts'
import { createStripeClient, modeOfKey, type Mode } from '../../platform/stripe/client.ts'
import { fromStripeError, rejectedKeyReason } from '../../platform/stripe/errors.ts'
import type { ChangeFeed } from '../../platform/db/changes.ts'
import type { StripeResolver } from './resolver.ts'
import { notConfigured } from './access.ts'
import { ownedProject } from '../projects/service.ts'
import { findConfig, updateConfig, upsertConfig, type StripeConfigRow } from './repository.ts'

export interface StripeConfigDeps {
  db: Db
  config: Pick<Config, 'encryptionKeys' | 'stripeApiBase'>
  changes: ChangeFeed
  resolver: StripeResolver
}

export interface PutConfigInput {
  secret_key: string
  publishable_key: string
  webhook_secret?: string | null | undefined
  confirm_account_change?: boolean | undefined
}

export interface ValidationOutcome {
  valid: boolean
  stripe_account_id: string | null
  livemode: boolean | null
  reason: string | null
  validated_at: string | null
}

/** Which Stripe account a key belongs to; a key Stripe rejects yields its error code instead. */
async function accountOfKey (secretKey: string, apiBase: string | undefined): Promise<{ accountId: string | null, livemode: boolean | null, reason: string | null }> {
  const stripe = createStripeClient(secretKey, { apiBase, maxNetworkRetries: 1 })
  try {
    const [account, balance] = await Promise.all([
      stripe.accounts.retrieveCurrent(),
      stripe.balance.retrieve().catch(() => null),
    ])
    return { accountId: account.id, livemode: balance?.livemode ?? null, reason: null }
  } catch (err) {
    const reason = rejectedKeyReason(err)
    if (reason !== null) return { accountId: null, livemode: null, reason }
    throw fromStripeError(err)
  }
}

export function createStripeConfigService ({ db, config, changes, resolver }: StripeConfigDeps) {

  async function writeAndNotify (projectId: string, mode: Mode, write: (tx: Tx) => Promise<StripeConfigRow | undefined>) {
    return changes.commit(db, async (tx) => {
      const row = await write(tx)
      if (!row) throw notFound('stripe configuration')
      return { value: row, change: { kind: 'stripe_config', projectId, mode, version: row.version } }
    })
  }

  return {
    async get (developerId: string, projectId: string, mode: Mode) {
      await ownedProject(db, developerId, projectId)
      return findConfig(db, projectId, mode)
    },

    async put (developerId: string, projectId: string, mode: Mode, input: PutConfigInput): Promise<StripeConfigRow> {
      await ownedProject(db, developerId, projectId)
      for (const [field, key] of [['secret_key', input.secret_key], ['publishable_key', input.publishable_key]] as const) {
        const keyMode = modeOfKey(key)
        if (keyMode !== mode) {
          throw badRequest('key_mode_mismatch', `${field} is a ${keyMode ?? 'unknown'}-mode key but the request is for ${mode} mode`, { field })
        }
      }
      const existing = await findConfig(db, projectId, mode)
      // A key for another Stripe account would move this project's money elsewhere: refuse unless confirmed.
      let accountChange: { accountId: string, livemode: boolean | null } | undefined
      if (existing?.stripeAccountId) {
        const owner = await accountOfKey(input.secret_key, config.stripeApiBase)
        if (owner.accountId && owner.accountId !== existing.stripeAccountId) {
          if (!input.confirm_account_change) {
            throw conflict('account_changed', `The new key belongs to Stripe account ${owner.accountId}, not the validated ${existing.stripeAccountId}; send confirm_account_change: true to switch accounts`, {
              previous_account_id: existing.stripeAccountId, new_account_id: owner.accountId,
            })
          }
          accountChange = { accountId: owner.accountId, livemode: owner.livemode }
        }
      }
      const aad = (field: 'secret_key' | 'webhook_secret') => associatedData(projectId, mode, field)
      return writeAndNotify(projectId, mode, (tx) => upsertConfig(tx, projectId, mode, {
        secretKey: seal(config, input.secret_key, aad('secret_key')),
        secretKeyHint: keyHint(input.secret_key),
        publishableKey: input.publishable_key,
        ...(input.webhook_secret !== undefined ? { webhookSecret: input.webhook_secret === null ? null : seal(config, input.webhook_secret, aad('webhook_secret')) } : {}),
        ...(accountChange ? { stripeAccountId: accountChange.accountId, livemode: accountChange.livemode, validatedAt: new Date() } : {}),
      }))
    },

    /** Deactivates: no new checkouts or portal sessions, but webhooks of this mode still verify and record. */
    async deactivate (developerId: string, projectId: string, mode: Mode): Promise<StripeConfigRow> {
      await ownedProject(db, developerId, projectId)
      return writeAndNotify(projectId, mode, (tx) => updateConfig(tx, projectId, mode, { active: false }))
    },

    async validate (developerId: string, projectId: string, mode: Mode, confirmAccountChange: boolean): Promise<ValidationOutcome> {
      await ownedProject(db, developerId, projectId)
      const resolved = await resolver.resolve(projectId, mode)
      if (!resolved) throw notConfigured(mode)
      let account: { id: string }
      let livemode: boolean | null = null
      try {
        account = await resolved.stripe.accounts.retrieveCurrent()
        livemode = await resolved.stripe.balance.retrieve().then((b) => b.livemode, () => null)
      } catch (err) {
        const reason = rejectedKeyReason(err)
        if (reason !== null) return { valid: false, stripe_account_id: null, livemode: null, reason, validated_at: null }
        throw fromStripeError(err)
      }
      livemode ??= mode === 'live'
      if (livemode !== (mode === 'live')) {
        return { valid: false, stripe_account_id: account.id, livemode, reason: 'livemode_mismatch', validated_at: null }
      }
      if (resolved.stripeAccountId && resolved.stripeAccountId !== account.id && !confirmAccountChange) {
        throw conflict('account_changed', `The stored key belongs to Stripe account ${account.id}, not the validated ${resolved.stripeAccountId}; send confirm_account_change: true to switch accounts`, {
          previous_account_id: resolved.stripeAccountId, new_account_id: account.id,
        })
      }
      const row = await writeAndNotify(projectId, mode, (tx) => updateConfig(tx, projectId, mode, { stripeAccountId: account.id, livemode, validatedAt: new Date() }))
      return { valid: true, stripe_account_id: account.id, livemode, reason: null, validated_at: row.validatedAt?.toISOString() ?? null }
    },
  }
}
