import { and, desc, eq, isNull } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { projectApiKeys } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type ApiKeyRow = typeof projectApiKeys.$inferSelect
const visible = {
  id: projectApiKeys.id, projectId: projectApiKeys.projectId, mode: projectApiKeys.mode, name: projectApiKeys.name, prefix: projectApiKeys.prefix,
  lastUsedAt: projectApiKeys.lastUsedAt, revokedAt: projectApiKeys.revokedAt, createdAt: projectApiKeys.createdAt,
}
export type ApiKey = Pick<ApiKeyRow, keyof typeof visible>

export async function insertApiKey (db: Executor, row: { projectId: string, mode: Mode, name: string, prefix: string, hash: string }): Promise<ApiKey> {
  const [created] = await db.insert(projectApiKeys).values(row).returning(visible)
  if (!created) throw new Error('insert returned no row')
  return created
}

export async function listApiKeys (db: Executor, projectId: string): Promise<ApiKey[]> {
  return db.select(visible).from(projectApiKeys).where(eq(projectApiKeys.projectId, projectId)).orderBy(desc(projectApiKeys.createdAt), desc(projectApiKeys.id)).limit(1000)
}

/** Revokes a key of the project (once; a revoked key stays revoked). */
export async function revokeApiKey (db: Executor, projectId: string, keyId: string): Promise<ApiKey | undefined> {
  const [row] = await db.update(projectApiKeys).set({ revokedAt: new Date() })
    .where(and(eq(projectApiKeys.id, keyId), eq(projectApiKeys.projectId, projectId), isNull(projectApiKeys.revokedAt))).returning(visible)
  return row
}

/** The live (unrevoked) key with this hash. */
export async function findApiKeyByHash (db: Executor, hash: string): Promise<{ id: string, projectId: string, mode: Mode } | undefined> {
  const [row] = await db.select({ id: projectApiKeys.id, projectId: projectApiKeys.projectId, mode: projectApiKeys.mode })
    .from(projectApiKeys).where(and(eq(projectApiKeys.hash, hash), isNull(projectApiKeys.revokedAt)))
  return row
}

export async function touchApiKey (db: Executor, keyId: string): Promise<void> {
  await db.update(projectApiKeys).set({ lastUsedAt: new Date() }).where(eq(projectApiKeys.id, keyId))
}
