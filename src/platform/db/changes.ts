import fp from 'fastify-plugin'
import { sql } from 'drizzle-orm'
import type { Db, Executor, Tx } from './client.ts'
import type { Mode } from '../stripe/client.ts'

/** What other instances must forget. Sent with pg_notify inside the writing transaction, so it arrives only after commit. */
export type Change =
  | { kind: 'stripe_config', projectId: string, mode: Mode, version: number }
  | { kind: 'end_user_secret', projectId: string, version: number }
  | { kind: 'api_key', keyId: string }

export const CHANGES_CHANNEL = 'stripe_platform_changes'

export interface ChangeFeed {
  subscribe (onChange: (change: Change) => void, onReset: () => void): void
  /**
   * Runs `write` in a transaction that NOTIFYs the change it returns (sent at commit, to every
   * instance), then applies that change to this instance's caches at once: the writer must not use
   * what it just replaced while its own notification is still on the way back from the server.
   */
  commit<T> (db: Db, write: (tx: Tx) => Promise<{ value: T, change: Change }>): Promise<T>
}

declare module 'fastify' {
  interface FastifyInstance { changes: ChangeFeed }
}

export default fp(async (app) => {
  const listeners: Array<{ onChange: (c: Change) => void, onReset: () => void }> = []
  const unlisten = await app.database.listen(CHANGES_CHANNEL, (payload) => {
    let change: Change
    try { change = JSON.parse(payload) as Change } catch { return }
    for (const l of listeners) l.onChange(change)
  }, () => {
    app.log.warn('change feed reconnected: dropping every cached client and secret')
    for (const l of listeners) l.onReset()
  })
  app.addHook('onClose', async () => { await unlisten().catch(() => {}) })
  const notify = async (tx: Executor, change: Change) => {
    await tx.execute(sql`select pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify(change)})`)
  }
  app.decorate('changes', {
    subscribe (onChange, onReset) { listeners.push({ onChange, onReset }) },
    async commit (db, write) {
      const { value, change } = await db.transaction(async (tx) => {
        const result = await write(tx)
        await notify(tx, result.change)
        return result
      })
      // Listeners keep the newest version they were told of, so hearing it again from NOTIFY is harmless.
      for (const l of listeners) l.onChange(change)
      return value
    },
  } satisfies ChangeFeed)
}, { name: 'changes', dependencies: ['db'] })
