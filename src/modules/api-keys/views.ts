import type { projectApiKeys } from '../../platform/db/schema.ts'
import { isoOrNull } from '../../platform/time.ts'

type ApiKeyFields = Pick<typeof projectApiKeys.$inferSelect, 'id' | 'projectId' | 'mode' | 'name' | 'prefix' | 'lastUsedAt' | 'revokedAt' | 'createdAt'>

export const apiKeyView = (k: ApiKeyFields) => ({
  id: k.id,
  project_id: k.projectId,
  mode: k.mode,
  name: k.name,
  prefix: k.prefix,
  last_used_at: isoOrNull(k.lastUsedAt),
  revoked_at: isoOrNull(k.revokedAt),
  created_at: k.createdAt.toISOString(),
})
