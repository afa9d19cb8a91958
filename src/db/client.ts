import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { sql, type SQL } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import postgres from 'postgres'
import * as schema from './schema.ts'

export type Schema = typeof schema
export type Db = PgDatabase<PgQueryResultHKT, Schema>
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
/** Repositories take either: inside a transaction every call takes the transaction. */
export type Executor = Db | Tx

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url))

export interface DatabaseOptions {
  /** postgres:// URL; unset means the embedded PGlite database. */
  url?: string | undefined
  /** PGlite data directory; unset with no url means in memory. */
  dataDir?: string | undefined
  /** Postgres schema to live in (tests give each case its own); default public. */
  schema?: string
  poolSize?: number
}

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** Subscribe to a NOTIFY channel. `onReset` runs whenever notifications may have been missed (reconnect). */
  listen (channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<() => Promise<void>>
  migrate (): Promise<void>
  ping (): Promise<void>
  close (): Promise<void>
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

export async function openDatabase (options: DatabaseOptions): Promise<Database> {
  const schemaName = options.schema ?? 'public'
  if (!SCHEMA_NAME.test(schemaName)) throw new Error('invalid schema name')
  return options.url ? openPostgres(options.url, schemaName, options.poolSize ?? 10) : openPglite(options.dataDir, schemaName)
}

async function openPostgres (url: string, schemaName: string, poolSize: number): Promise<Database> {
  const client = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    connection: { search_path: schemaName, application_name: 'stripe-platform' },
    // Fail fast on a dead server instead of letting requests queue for the default 30 s.
    connect_timeout: 10,
  })
  const db = drizzlePostgres(client, { schema })
  return {
    db,
    kind: 'postgres',
    async listen (channel, onMessage, onReset) {
      // postgres.js re-LISTENs after a reconnect and calls onlisten each time; anything sent
      // while the connection was down is lost, so the caller drops what it derived from it.
      let first = true
      const sub = await client.listen(channel, onMessage, () => {
        if (!first) onReset()
        first = false
      })
      return async () => { await sub.unlisten() }
    },
    async migrate () {
      // Several instances may start together: one migrates while the others wait on the lock,
      // held on a reserved connection for the whole run (the migrator itself uses the pool).
      const reserved = await client.reserve()
      try {
        if (schemaName !== 'public') await reserved.unsafe(`create schema if not exists "${schemaName}"`)
        await reserved`select pg_advisory_lock(hashtext('stripe-platform:migrate'))`
        try {
          await migratePostgres(db, {
            migrationsFolder: MIGRATIONS_FOLDER,
            migrationsSchema: schemaName === 'public' ? 'drizzle' : schemaName,
          })
        } finally {
          await reserved`select pg_advisory_unlock(hashtext('stripe-platform:migrate'))`
        }
      } finally {
        reserved.release()
      }
    },
    async ping () { await db.execute(sql`select 1`) },
    async close () { await client.end({ timeout: 5 }) },
  }
}

async function openPglite (dataDir: string | undefined, schemaName: string): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const client = dataDir ? new PGlite(join(dataDir)) : new PGlite()
  await client.waitReady
  if (schemaName !== 'public') {
    await client.exec(`create schema if not exists "${schemaName}"; set search_path to "${schemaName}"`)
  }
  const db = drizzlePglite(client, { schema })
  return {
    db,
    kind: 'pglite',
    // One process owns the embedded database, so its notifications reach every app instance in it.
    async listen (channel, onMessage) {
      const unlisten = await client.listen(channel, onMessage)
      return async () => { await unlisten() }
    },
    async migrate () {
      await migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER, migrationsSchema: schemaName === 'public' ? 'drizzle' : schemaName })
    },
    async ping () { await db.execute(sql`select 1`) },
    async close () { if (!client.closed) await client.close() },
  }
}

/** Raw SQL rows, whichever driver runs it (postgres.js answers an array, PGlite `{ rows }`). */
export async function queryRows<T extends Record<string, unknown>> (db: Executor, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query)
  if (Array.isArray(result)) return result as T[]
  return (result as { rows: T[] }).rows
}
