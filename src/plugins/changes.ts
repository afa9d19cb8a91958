import fp from 'fastify-plugin'
import { sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import type { Mode } from '../lib/stripe.ts'

/** What other instances must forget. Sent with pg_notify inside the writing transaction, so it arrives only after commit. */
export type Change =
  | { kind: 'stripe_config', projectId: string, mode: Mode, version: number }
  | { kind: 'end_user_secret', projectId: string, version: number }

export const CHANGES_CHANNEL = 'stripe_platform_changes'

export interface ChangeFeed {
  subscribe (onChange: (change: Change) => void, onReset: () => void): void
  notify (tx: Executor, change: Change): Promise<void>
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
  app.decorate('changes', {
    subscribe (onChange, onReset) { listeners.push({ onChange, onReset }) },
    async notify (tx, change) { await tx.execute(sql`select pg_notify(${CHANGES_CHANNEL}, ${JSON.stringify(change)})`) },
  } satisfies ChangeFeed)
}, { name: 'changes', dependencies: ['db'] })
