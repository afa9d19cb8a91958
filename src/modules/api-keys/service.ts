import type { Db } from '../../platform/db/client.ts'
import type { ChangeFeed } from '../../platform/db/changes.ts'
import { notFound } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { ownedProject } from '../projects/service.ts'
import { hashApiKey, newApiKey, prefixOf } from './model.ts'
import { insertApiKey, listApiKeys, revokeApiKey } from './repository.ts'

export interface ApiKeysDeps { db: Db, changes: ChangeFeed }

export function createApiKeysService ({ db, changes }: ApiKeysDeps) {
  const owned = async (developerId: string, projectId: string) => {
    await ownedProject(db, developerId, projectId)
  }
  return {
    /** A new key, returned once with the row; only its hash is kept. */
    async create (developerId: string, projectId: string, mode: Mode, name: string) {
      await owned(developerId, projectId)
      const key = newApiKey(mode)
      const row = await insertApiKey(db, { projectId, mode, name: name.trim(), prefix: prefixOf(key), hash: hashApiKey(key) })
      return { row, key }
    },

    async list (developerId: string, projectId: string) {
      await owned(developerId, projectId)
      return listApiKeys(db, projectId)
    },

    /** Every instance forgets the key when the revocation commits (the change feed), so none accepts it again. */
    async revoke (developerId: string, projectId: string, keyId: string) {
      await owned(developerId, projectId)
      return changes.commit(db, async (tx) => {
        const row = await revokeApiKey(tx, projectId, keyId)
        if (!row) throw notFound('API key')
        return { value: row, change: { kind: 'api_key', keyId: row.id } }
      })
    },
  }
}
