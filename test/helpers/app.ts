import { randomBytes, randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { createSigner } from 'fast-jwt'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import tap, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import { buildApp } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { openDatabase, queryRows, type Database } from '../../src/platform/db/client.ts'
import { startStripeLocal, type StripeLocal } from '../../stripe-local/index.ts'

/**
 * Tests run on a real database: the Postgres server named by DATABASE_URL (each test file in its own
 * schema, dropped at the end), or, without it, the embedded PGlite in memory. Starting PGlite costs
 * about 2 s, so a file's tests share one database and each test owns its data (fresh developer ids).
 */
export const TEST_DATABASE_URL = process.env.DATABASE_URL || undefined
export const TEST_KEYS = `k1:${randomBytes(32).toString('base64')}`
export const TEST_JWT_SECRET = randomBytes(32).toString('base64url')

let shared: Promise<{ database: Database, schema: string }> | undefined

export function testSchemaName (): string {
  return `t_${process.pid}_${randomBytes(4).toString('hex')}`
}

/** Opens (once per test file) and migrates the test database. */
export function testDatabase (): Promise<{ database: Database, schema: string }> {
  shared ??= (async () => {
    const schema = TEST_DATABASE_URL ? testSchemaName() : 'public'
    const database = await openDatabase({ url: TEST_DATABASE_URL, schema, poolSize: 8 })
    await database.migrate()
    tap.teardown(async () => {
      if (TEST_DATABASE_URL) await database.db.execute(sql.raw(`drop schema if exists "${schema}" cascade`))
      await database.close()
    })
    return { database, schema }
  })()
  return shared
}

/** A second connection pool onto the same database and schema: what another instance would have. */
export async function secondConnection (t: Test): Promise<Database> {
  const { database, schema } = await testDatabase()
  if (!TEST_DATABASE_URL) return database
  const other = await openDatabase({ url: TEST_DATABASE_URL, schema, poolSize: 4 })
  t.teardown(() => other.close())
  return other
}

export function testConfig (env: Record<string, string | undefined> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    ENCRYPTION_KEYS: TEST_KEYS,
    JWT_SECRET: TEST_JWT_SECRET,
    PUBLIC_BASE_URL: 'https://payments.example.test',
    DATA_DIR: '/nonexistent-test-data',
    LOG_LEVEL: 'silent',
    ...(TEST_DATABASE_URL ? { DATABASE_URL: TEST_DATABASE_URL } : {}),
    ...env,
  })
}

export interface TestAppOptions {
  env?: Record<string, string | undefined>
  database?: Database
  logs?: string[]
}

/** The whole app on the test database; closed when the test ends. */
export async function buildTestApp (t: Test, options: TestAppOptions = {}): Promise<FastifyInstance> {
  const database = options.database ?? (await testDatabase()).database
  const logs = options.logs
  const config = testConfig({ ...(logs ? { LOG_LEVEL: 'trace' } : {}), ...options.env })
  const app = await buildApp({
    config,
    database,
    ...(logs ? { logStream: new Writable({ write (chunk: Buffer, _enc, done) { logs.push(chunk.toString('utf8')); done() } }) } : {}),
  })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

/** The local Stripe-compatible server on an ephemeral port, closed when the test ends. */
export async function startLocalStripe (t: Test): Promise<StripeLocal> {
  const local = await startStripeLocal({ port: 0, retry: { maxAttempts: 4, baseDelayMs: 25 } })
  t.teardown(() => local.close())
  return local
}

export const newDeveloperId = (): string => `dev_${randomUUID()}`

/** Lifetime of test tokens, ms (the service refuses tokens without `exp`); a claim `exp` (even undefined) overrides it. */
export const TEST_TOKEN_LIFETIME_MS = 3_600_000

const expiry = (claims: Record<string, unknown> | undefined, expiresIn?: number) => ('exp' in (claims ?? {}) ? {} : { expiresIn: expiresIn ?? TEST_TOKEN_LIFETIME_MS })

export function developerToken (developerId: string, options: { secret?: string, expiresIn?: number, claims?: Record<string, unknown> } = {}): string {
  const sign = createSigner({ key: options.secret ?? TEST_JWT_SECRET, algorithm: 'HS256', ...expiry(options.claims, options.expiresIn) })
  return sign({ sub: developerId, role: 'developer', ...options.claims })
}

export function endUserToken (projectId: string, endUserId: string, secret: string, claims: Record<string, unknown> = {}): string {
  return createSigner({ key: secret, algorithm: 'HS256', ...expiry(claims) })({ sub: endUserId, project_id: projectId, role: 'end_user', ...claims })
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

export interface Developer { id: string, token: string, headers: { authorization: string } }
export function newDeveloper (): Developer {
  const id = newDeveloperId()
  const token = developerToken(id)
  return { id, token, headers: bearer(token) }
}

export interface CreatedProject { id: string, name: string, end_user_secret: string }
export async function createProject (app: FastifyInstance, developer: Developer, name = 'Shop'): Promise<CreatedProject> {
  const res = await app.inject({ method: 'POST', url: '/api/v1/projects', headers: developer.headers, payload: { name } })
  if (res.statusCode !== 201) throw new Error(`createProject: ${res.statusCode} ${res.body}`)
  return res.json<CreatedProject>()
}

/** Stores Stripe keys of a local Stripe account for a project. */
export async function configureStripe (app: FastifyInstance, developer: Developer, projectId: string, keys: { secret_key: string, publishable_key: string, webhook_secret?: string }, mode: 'test' | 'live' = 'test'): Promise<LightMyRequestResponse> {
  const res = await app.inject({
    method: 'PUT', url: `/api/v1/payments/stripe/projects/${projectId}/config?test_mode=${mode === 'test'}`, headers: developer.headers, payload: keys,
  })
  if (res.statusCode !== 200) throw new Error(`configureStripe: ${res.statusCode} ${res.body}`)
  return res
}

export function assertProblem (t: Test, res: LightMyRequestResponse, status: number, code: string): void {
  t.equal(res.statusCode, status, `status ${status} (${res.body.slice(0, 300)})`)
  t.match(res.headers['content-type'], /application\/problem\+json/, 'problem+json')
  const body = res.json<{ code: string, status: number, title: string, detail: string, type: string }>()
  t.equal(body.code, code, `code ${code}`)
  t.equal(body.status, status)
  t.type(body.detail, 'string')
  t.type(body.type, 'string')
}

/** Row counts scoped to a project or a developer (tests share a database, so counts are never global). */
export async function countRows (app: FastifyInstance, table: 'projects' | 'stripe_configs' | 'webhook_events' | 'subscriptions' | 'transactions' | 'customers', scope: { projectId: string } | { developerId: string }): Promise<number> {
  const column = sql.identifier(table === 'projects' ? 'id' : 'project_id')
  const where = 'projectId' in scope
    ? sql`${column} = ${scope.projectId}`
    : sql`${column} in (select id from projects where developer_id = ${scope.developerId})`
  const [row] = await queryRows<{ n: number }>(app.db, sql`select count(*)::int as n from ${sql.identifier(table)} where ${where}`)
  return Number(row?.n ?? 0)
}
