import { eq } from 'drizzle-orm'
import type { Config } from '../config.ts'
import type { Db } from '../platform/db/client.ts'
import { projects, stripeConfigs } from '../platform/db/schema.ts'
import { associatedData, keyIdOf, open, seal, type SecretField } from '../platform/crypto.ts'
import type { Mode } from '../platform/stripe/client.ts'
import { and } from 'drizzle-orm'

export interface RotationReport { examined: number, reencrypted: number, alreadyCurrent: number }

/**
 * Re-encrypts every stored secret under the first key of ENCRYPTION_KEYS, one row per transaction
 * with the row locked, so it can run while the service is up and be re-run after an interruption.
 * Decryption failures stop the run: a secret that cannot be opened must be looked at, not skipped.
 */
export async function rotateEncryptionKeys (db: Db, config: Pick<Config, 'encryptionKeys'>): Promise<RotationReport> {
  const primary = config.encryptionKeys[0]?.id
  const report: RotationReport = { examined: 0, reencrypted: 0, alreadyCurrent: 0 }
  const reseal = (sealed: string, aad: string): string | null => {
    report.examined++
    if (keyIdOf(sealed) === primary) { report.alreadyCurrent++; return null }
    report.reencrypted++
    return seal(config, open(config, sealed, aad), aad)
  }

  for (const { id } of await db.select({ id: projects.id }).from(projects)) {
    await db.transaction(async (tx) => {
      const [row] = await tx.select({ sealed: projects.endUserSecret }).from(projects).where(eq(projects.id, id)).for('update')
      if (!row) return
      const next = reseal(row.sealed, associatedData(id, null, 'end_user_secret'))
      if (next) await tx.update(projects).set({ endUserSecret: next }).where(eq(projects.id, id))
    })
  }

  const fields: Array<[SecretField, 'secretKey' | 'webhookSecret' | 'managedWebhookSecret']> = [
    ['secret_key', 'secretKey'], ['webhook_secret', 'webhookSecret'], ['managed_webhook_secret', 'managedWebhookSecret'],
  ]
  for (const { projectId, mode } of await db.select({ projectId: stripeConfigs.projectId, mode: stripeConfigs.mode }).from(stripeConfigs)) {
    await db.transaction(async (tx) => {
      const where = and(eq(stripeConfigs.projectId, projectId), eq(stripeConfigs.mode, mode))
      const [row] = await tx.select().from(stripeConfigs).where(where).for('update')
      if (!row) return
      const changes: Partial<Record<'secretKey' | 'webhookSecret' | 'managedWebhookSecret', string>> = {}
      for (const [field, column] of fields) {
        const sealed = row[column]
        if (!sealed) continue
        const next = reseal(sealed, associatedData(projectId, mode as Mode, field))
        if (next) changes[column] = next
      }
      // The plaintext is unchanged, so cached clients stay valid: no version bump, no NOTIFY.
      if (Object.keys(changes).length > 0) await tx.update(stripeConfigs).set(changes).where(where)
    })
  }
  return report
}
