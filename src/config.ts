import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

const LogLevel = Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))

/** The environment, as validated once at start-up. Names are the variables README.md documents. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, maxLength: 255, default: '127.0.0.1' }),
  PUBLIC_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+(/[^\\s]*)?$', maxLength: 2048 })),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://', maxLength: 4096 })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 200, default: 10 }),
  DATA_DIR: Type.String({ minLength: 1, maxLength: 4096, default: './data' }),
  ENCRYPTION_KEYS: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32, maxLength: 4096 })),
  JWT_PUBLIC_KEY: Type.Optional(Type.String({ minLength: 1, maxLength: 16384 })),
  STRIPE_API_BASE: Type.Optional(Type.String({ pattern: '^https?://[^\\s/]+/?$', maxLength: 2048 })),
  STRIPE_CLIENT_CACHE_SIZE: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  LOG_LEVEL: Type.Optional(LogLevel),
  TRUST_PROXY: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'true, a hop count, or a comma list of proxy addresses/CIDRs' })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://', maxLength: 4096 })),
  REDIS_KEY_PREFIX: Type.String({ minLength: 1, maxLength: 200, default: 'stripe-platform:rl:' }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 30_000 }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }),
  MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 2_000 }),
  JWT_MAX_LIFETIME_DEVELOPER: Type.Integer({ minimum: 60, maximum: 31 * 86_400, default: 86_400 }),
  JWT_MAX_LIFETIME_END_USER: Type.Integer({ minimum: 60, maximum: 31 * 86_400, default: 86_400 }),
})
export type Env = Static<typeof EnvSchema>

export interface Config {
  env: Env['NODE_ENV']
  port: number
  host: string
  publicBaseUrl: string
  databaseUrl: string | undefined
  databasePoolSize: number
  dataDir: string
  /** First key encrypts; all decrypt. */
  encryptionKeys: Array<{ id: string, key: Buffer }>
  jwt: { secret: string, publicKey?: undefined } | { publicKey: string, secret?: string }
  /** Fastify's trustProxy: the client address comes from X-Forwarded-For only when set. */
  trustProxy: boolean | number | string
  /** Rate limits shared by every instance through this Redis; unset: counted in each process. */
  redisUrl: string | undefined
  redisKeyPrefix: string
  /** The whole request (headers and body) must arrive within `requestMs`, its headers within `headersMs`; at most `maxConnections` sockets at once. */
  http: { requestMs: number, headersMs: number, maxConnections: number }
  /** Longest accepted token lifetime (exp − iat, or exp − now without iat), seconds, per role. */
  jwtMaxLifetime: { developer: number, endUser: number }
  stripeApiBase: string | undefined
  stripeClientCacheSize: number
  logLevel: string
  /** Warnings to log once the logger exists (generated development secrets). */
  warnings: string[]
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/

export function parseEncryptionKeys (value: string): Config['encryptionKeys'] {
  const keys = value.split(',').map((part) => part.trim()).filter(Boolean).map((part) => {
    const at = part.indexOf(':')
    const id = part.slice(0, at)
    if (at < 1 || !KEY_ID.test(id)) throw new ConfigError('ENCRYPTION_KEYS: each entry must be id:base64 with an id of letters, digits, _ or -')
    const key = Buffer.from(part.slice(at + 1), 'base64')
    if (key.length !== 32) throw new ConfigError(`ENCRYPTION_KEYS: key "${id}" must decode to exactly 32 bytes`)
    return { id, key }
  })
  if (keys.length === 0) throw new ConfigError('ENCRYPTION_KEYS: at least one key is required')
  if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new ConfigError('ENCRYPTION_KEYS: key ids must be unique')
  return keys
}

/** `true`/`false`, a number of proxy hops, or the proxies' addresses and CIDRs (comma separated). */
export function parseTrustProxy (value: string | undefined): boolean | number | string {
  if (value === undefined || value === 'false') return false
  if (value === 'true') return true
  if (/^\d+$/.test(value)) return Number(value)
  const parts = value.split(',').map((p) => p.trim()).filter(Boolean)
  if (parts.length === 0 || parts.some((p) => !/^[0-9A-Fa-f:.]+(\/\d{1,3})?$/.test(p) && !['loopback', 'linklocal', 'uniquelocal'].includes(p))) {
    throw new ConfigError('TRUST_PROXY must be true, false, a hop count, or a comma list of proxy addresses/CIDRs (or loopback, linklocal, uniquelocal)')
  }
  return parts.join(',')
}

interface DevSecrets { ENCRYPTION_KEYS: string, JWT_SECRET: string }

/** Outside production, missing secrets are generated once into DATA_DIR so restarts keep decrypting. */
function loadDevSecrets (dataDir: string): DevSecrets {
  const file = join(dataDir, 'dev-secrets.json')
  if (existsSync(file)) {
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'))
    if (Value.Check(Type.Object({ ENCRYPTION_KEYS: Type.String(), JWT_SECRET: Type.String() }), parsed)) return parsed
  }
  const secrets = {
    ENCRYPTION_KEYS: `dev1:${randomBytes(32).toString('base64')}`,
    JWT_SECRET: randomBytes(48).toString('base64url'),
  }
  mkdirSync(dataDir, { recursive: true })
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 })
  return secrets
}

function describe (errors: ReturnType<typeof Value.Errors>): string {
  return [...errors].slice(0, 5).map((e) => `${e.path.slice(1) || '(root)'}: ${e.message}`).join('; ')
}

/** Validates the environment once; a bad or missing setting stops start-up with a message naming the variable. */
export function loadConfig (source: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const env = Value.Default(EnvSchema, Value.Convert(EnvSchema, raw))
  if (!Value.Check(EnvSchema, env)) throw new ConfigError(`Invalid environment: ${describe(Value.Errors(EnvSchema, env))}`)

  const dataDir = resolve(env.DATA_DIR)
  const warnings: string[] = []
  let encryptionKeys = env.ENCRYPTION_KEYS
  let jwtSecret = env.JWT_SECRET
  if (env.NODE_ENV === 'production') {
    if (!encryptionKeys) throw new ConfigError('ENCRYPTION_KEYS is required in production (id:base64-32-bytes, comma separated)')
    if (!jwtSecret && !env.JWT_PUBLIC_KEY) throw new ConfigError('JWT_SECRET or JWT_PUBLIC_KEY is required in production')
  } else if (!encryptionKeys || (!jwtSecret && !env.JWT_PUBLIC_KEY)) {
    const dev = loadDevSecrets(dataDir)
    if (!encryptionKeys) {
      encryptionKeys = dev.ENCRYPTION_KEYS
      warnings.push(`ENCRYPTION_KEYS is not set: using a development key generated in ${join(dataDir, 'dev-secrets.json')}. Never use it in production.`)
    }
    if (!jwtSecret && !env.JWT_PUBLIC_KEY) {
      jwtSecret = dev.JWT_SECRET
      warnings.push(`JWT_SECRET is not set: using a development secret generated in ${join(dataDir, 'dev-secrets.json')}. Never use it in production.`)
    }
  }
  if (encryptionKeys === undefined) throw new ConfigError('ENCRYPTION_KEYS is required')

  const jwt: Config['jwt'] = env.JWT_PUBLIC_KEY
    ? { publicKey: env.JWT_PUBLIC_KEY.replace(/\\n/g, '\n'), ...(jwtSecret ? { secret: jwtSecret } : {}) }
    : { secret: jwtSecret ?? '' }
  if (!jwt.publicKey && !jwt.secret) throw new ConfigError('JWT_SECRET or JWT_PUBLIC_KEY is required')

  if (!env.DATABASE_URL) warnings.push(`DATABASE_URL is not set: using the embedded PGlite database in ${join(dataDir, 'pglite')}. It is for development; production belongs on a PostgreSQL server.`)

  return {
    env: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    publicBaseUrl: (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ''),
    databaseUrl: env.DATABASE_URL,
    databasePoolSize: env.DATABASE_POOL_SIZE,
    dataDir,
    encryptionKeys: parseEncryptionKeys(encryptionKeys),
    jwt,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    http: { requestMs: env.REQUEST_TIMEOUT_MS, headersMs: Math.min(env.HEADERS_TIMEOUT_MS, env.REQUEST_TIMEOUT_MS), maxConnections: env.MAX_CONNECTIONS },
    jwtMaxLifetime: { developer: env.JWT_MAX_LIFETIME_DEVELOPER, endUser: env.JWT_MAX_LIFETIME_END_USER },
    stripeApiBase: env.STRIPE_API_BASE?.replace(/\/+$/, ''),
    stripeClientCacheSize: env.STRIPE_CLIENT_CACHE_SIZE,
    logLevel: env.LOG_LEVEL ?? (env.NODE_ENV === 'test' ? 'silent' : 'info'),
    warnings,
  }
}
