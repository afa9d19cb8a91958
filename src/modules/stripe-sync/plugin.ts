import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import { createStripeSyncService, type StripeSyncService } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance { stripeSync: StripeSyncService }
}

/**
 * The resyncs this instance runs in the background. On close they stop where they are, saved as
 * interrupted (before the database closes), so the next request on any instance resumes them.
 */
export default fp(async (app) => {
  const service = createStripeSyncService({ db: app.db, resolver: app.stripeResolver, log: app.log, owner: randomUUID() })
  app.decorate('stripeSync', service)
  app.addHook('preClose', async () => { await service.close() })
}, { name: 'stripe-sync', dependencies: ['db', 'stripe-resolver'] })
