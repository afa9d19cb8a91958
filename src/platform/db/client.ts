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

export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../../migrations', import.meta.url))

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
/** How often the embedded database refreshes its planner statistics (it has no autovacuum). */
export const PGLITE_ANALYZE_INTERVAL_MS = 5 * 60_000

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
  const db = drizzlePostgres(preparedStatements(client), { schema })
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

/**
 * drizzle runs every query through postgres.js with `prepare: false`, and postgres.js then asks the
 * server to describe each parameterized statement before running it: two round trips per query.
 * With `prepare: true` each connection prepares a statement text once and afterwards sends only
 * Bind/Execute, one round trip. On this kind of machine the round trip (a socket write and a wake-up
 * on each side) is the dominant cost of a webhook, so every query, also inside transactions, is
 * prepared. The statement texts are a bounded set (values are always parameters), and postgres.js
 * recycles each connection after 30-60 minutes (max_lifetime), which bounds its statement cache.
 */
function preparedStatements (sql: postgres.Sql): postgres.Sql {
  return new Proxy(sql, {
    get (target, prop) {
      if (prop === 'unsafe') {
        return (query: string, params?: postgres.ParameterOrJSON<never>[], options?: postgres.UnsafeQueryOptions) =>
          target.unsafe(query, params, { ...options, prepare: true })
      }
      if (prop === 'begin' || prop === 'savepoint') {
        return (...args: unknown[]) => {
          const fn = args.pop() as (tx: postgres.Sql) => unknown
          const method = Reflect.get(target, prop, target) as (...a: unknown[]) => unknown
          return method.apply(target, [...args, (tx: postgres.Sql) => fn(preparedStatements(tx))])
        }
      }
      const value: unknown = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

async function openPglite (dataDir: string | undefined, schemaName: string): Promise<Database> {
  if (dataDir) mkdirSync(dataDir, { recursive: true })
  const client = dataDir ? new PGlite(join(dataDir)) : new PGlite()
  await client.waitReady
  if (schemaName !== 'public') {
    await client.exec(`create schema if not exists "${schemaName}"; set search_path to "${schemaName}"`)
  }
  const db = drizzlePglite(client, { schema })
  // PGlite runs no autovacuum, so nothing would ever ANALYZE: without statistics the planner may
  // answer a primary-key lookup with a wider index, scanning a project's whole history per webhook.
  // The service analyzes after migrating and then every few minutes.
  let analyzer: NodeJS.Timeout | undefined
  const analyze = async () => { if (!client.closed) await client.exec('analyze').catch(() => {}) }
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
      await analyze()
      analyzer ??= setInterval(() => { void analyze() }, PGLITE_ANALYZE_INTERVAL_MS).unref()
    },
    async ping () { await db.execute(sql`select 1`) },
    async close () {
      clearInterval(analyzer)
      if (!client.closed) await client.close()
    },
  }
}

/** Raw SQL rows, whichever driver runs it (postgres.js answers an array, PGlite `{ rows }`). */
export async function queryRows<T extends Record<string, unknown>> (db: Executor, query: SQL): Promise<T[]> {
  const result: unknown = await db.execute(query)
  if (Array.isArray(result)) return result as T[]
  return (result as { rows: T[] }).rows
}

const camelCase = (key: string): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())

/**
 * A row a statement returned as JSON (`row_to_json`, `json_agg`): the same value from both drivers.
 * Keys become camelCase like drizzle's, and the named timestamp columns become Dates.
 */
export function rowFromJson<T> (raw: unknown, dateKeys: readonly string[]): T {
  const value: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) out[camelCase(key)] = v
  for (const key of dateKeys) {
    const v = out[key]
    out[key] = typeof v === 'string' ? new Date(v) : null
  }
  return out as T
}

/** A JSON array a statement returned (`json_agg`), from either driver. */
export const jsonArray = (raw: unknown): unknown[] => {
  const value: unknown = typeof raw === 'string' ? JSON.parse(raw) : raw
  return Array.isArray(value) ? value : []
}
