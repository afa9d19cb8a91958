import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { projects, stripeConfigs } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type StripeConfigRow = typeof stripeConfigs.$inferSelect

export async function findConfig (db: Executor, projectId: string, mode: Mode): Promise<StripeConfigRow | undefined> {
  const [row] = await db.select().from(stripeConfigs)
    .where(and(eq(stripeConfigs.projectId, projectId), eq(stripeConfigs.mode, mode)))
  return row
}

/** The configuration with its project's developer (who never changes), in one query: what the client cache keeps. */
export async function findConfigWithOwner (db: Executor, projectId: string, mode: Mode): Promise<(StripeConfigRow & { developerId: string }) | undefined> {
  const [row] = await db.select({ config: stripeConfigs, developerId: projects.developerId }).from(stripeConfigs)
    .innerJoin(projects, eq(projects.id, stripeConfigs.projectId))
    .where(and(eq(stripeConfigs.projectId, projectId), eq(stripeConfigs.mode, mode)))
  return row ? { ...row.config, developerId: row.developerId } : undefined
}

export async function findConfigsFor (db: Executor, projectIds: string[]): Promise<StripeConfigRow[]> {
  if (projectIds.length === 0) return []
  return db.select().from(stripeConfigs).where(inArray(stripeConfigs.projectId, projectIds))
}

export interface ConfigWrite {
  secretKey: string
  secretKeyHint: string
  publishableKey: string
  /** undefined keeps the stored one; null clears it. */
  webhookSecret?: string | null
  stripeAccountId?: string | null
  livemode?: boolean | null
  validatedAt?: Date | null
}

/** Insert or replace; every write bumps the version so every instance's cached client is dropped. */
export async function upsertConfig (db: Executor, projectId: string, mode: Mode, write: ConfigWrite): Promise<StripeConfigRow> {
  const now = new Date()
  const set = {
    secretKey: write.secretKey,
    secretKeyHint: write.secretKeyHint,
    publishableKey: write.publishableKey,
    active: true,
    version: sql`${stripeConfigs.version} + 1`,
    updatedAt: now,
    ...(write.webhookSecret !== undefined ? { webhookSecret: write.webhookSecret } : {}),
    ...(write.stripeAccountId !== undefined ? { stripeAccountId: write.stripeAccountId } : {}),
    ...(write.livemode !== undefined ? { livemode: write.livemode } : {}),
    ...(write.validatedAt !== undefined ? { validatedAt: write.validatedAt } : {}),
  }
  const [row] = await db.insert(stripeConfigs)
    .values({
      projectId,
      mode,
      secretKey: write.secretKey,
      secretKeyHint: write.secretKeyHint,
      publishableKey: write.publishableKey,
      webhookSecret: write.webhookSecret ?? null,
      stripeAccountId: write.stripeAccountId ?? null,
      livemode: write.livemode ?? null,
      validatedAt: write.validatedAt ?? null,
    })
    .onConflictDoUpdate({ target: [stripeConfigs.projectId, stripeConfigs.mode], set })
    .returning()
  if (!row) throw new Error('upsert returned no row')
  return row
}

export async function updateConfig (db: Executor, projectId: string, mode: Mode, changes: Partial<Pick<StripeConfigRow,
  'active' | 'stripeAccountId' | 'livemode' | 'validatedAt' | 'webhookEndpointId' | 'webhookEndpointUrl' | 'managedWebhookSecret' | 'webhookSecret' | 'secretKey'>>,
): Promise<StripeConfigRow | undefined> {
  const [row] = await db.update(stripeConfigs)
    .set({ ...changes, version: sql`${stripeConfigs.version} + 1`, updatedAt: new Date() })
    .where(and(eq(stripeConfigs.projectId, projectId), eq(stripeConfigs.mode, mode)))
    .returning()
  return row
}
