import fp from 'fastify-plugin'
import type { Database, Db } from './client.ts'

declare module 'fastify' {
  interface FastifyInstance { database: Database, db: Db }
}

/** The database is opened by buildApp (or handed in by tests) and closed with the app when the app owns it. */
export default fp<{ database: Database, owned: boolean }>(async (app, { database, owned }) => {
  app.decorate('database', database)
  app.decorate('db', database.db)
  if (owned) app.addHook('onClose', async () => { await database.close() })
}, { name: 'db' })
