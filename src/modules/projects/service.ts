import { randomBytes, randomUUID } from 'node:crypto'
import type { Config } from '../../config.ts'
import type { Db, Executor } from '../../platform/db/client.ts'
import { associatedData, seal } from '../../platform/crypto.ts'
import { notFound } from '../../platform/http/errors.ts'
import type { ChangeFeed } from '../../platform/db/changes.ts'
import { findOwnedProject, insertProject, replaceEndUserSecret, type Project } from './repository.ts'

/** The caller's project, or 404: another developer's project is indistinguishable from a missing one. */
export async function ownedProject (db: Executor, developerId: string, projectId: string): Promise<Project> {
  const project = await findOwnedProject(db, developerId, projectId)
  if (!project) throw notFound('project')
  return project
}

export interface ProjectsDeps { db: Db, config: Pick<Config, 'encryptionKeys'>, changes: ChangeFeed }

const newEndUserSecret = () => `eus_${randomBytes(32).toString('base64url')}`

export function createProjectsService ({ db, config, changes }: ProjectsDeps) {
  return {
    async create (developerId: string, name: string) {
      const id = randomUUID()
      const secret = newEndUserSecret()
      const project = await insertProject(db, {
        id, developerId, name: name.trim(), endUserSecret: seal(config, secret, associatedData(id, null, 'end_user_secret')),
      })
      return { project, endUserSecret: secret }
    },

    /** The old secret stops verifying tokens on every instance as soon as the rotation commits. */
    async rotateEndUserSecret (developerId: string, projectId: string) {
      const secret = newEndUserSecret()
      const project = await changes.commit(db, async (tx) => {
        const row = await replaceEndUserSecret(tx, developerId, projectId, seal(config, secret, associatedData(projectId, null, 'end_user_secret')))
        if (!row) throw notFound('project')
        return { value: row, change: { kind: 'end_user_secret', projectId, version: row.endUserSecretVersion } }
      })
      return { project, endUserSecret: secret }
    },
  }
}
