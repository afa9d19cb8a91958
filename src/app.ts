import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { DestinationStream } from 'pino'
import type { Config } from './config.ts'
import { openDatabase, type Database } from './platform/db/client.ts'
import authPlugin from './modules/auth/plugin.ts'
import changesPlugin from './platform/db/changes.ts'
import dbPlugin from './platform/db/plugin.ts'
import openapiPlugin from './platform/http/openapi.ts'
import problemPlugin from './platform/http/problem.ts'
import stripeResolverPlugin from './modules/stripe-accounts/resolver.ts'
import { installValidators } from './platform/http/validation.ts'
import { rateLimitStorePlugin, type RateLimitSettings } from './platform/http/rate-limit.ts'
import catalogRoutes, { publicCatalogRoutes } from './modules/credits/catalog-routes.ts'
import checkoutRoutes, { CHECKOUT_RATE_LIMIT } from './modules/payments/checkout-routes.ts'
import meRoutes, { ME_RATE_LIMIT } from './modules/payments/me-routes.ts'
import operationsRoutes from './modules/operations/routes.ts'
import paymentsRoutes from './modules/payments/developer-routes.ts'
import projectPaymentsRoutes from './modules/payments/project-routes.ts'
import projectsRoutes from './modules/projects/routes.ts'
import stripeConfigRoutes from './modules/stripe-accounts/routes.ts'
import webhookRoutes from './webhooks/route.ts'
import webhookAdminRoutes from './webhooks/admin-routes.ts'
import apiKeyRoutes from './modules/api-keys/routes.ts'
import creditRoutes from './modules/credits/routes.ts'
import myCreditRoutes from './modules/credits/me-routes.ts'
import creditsSweepPlugin from './modules/credits/sweep-plugin.ts'
import stripeSyncPlugin from './modules/stripe-sync/plugin.ts'
import stripeSyncRoutes from './modules/stripe-sync/routes.ts'

declare module 'fastify' {
  interface FastifyInstance { config: Config }
}

export interface BuildOptions {
  config: Config
  /** An already open (and migrated) database; the app then leaves closing it to the caller. */
  database?: Database
  /** Where log lines go (tests capture them); default stdout. */
  logStream?: DestinationStream
  /** Per-user and per-IP limits of the end-user routes (tests use small ones). */
  rateLimits?: { checkout?: RateLimitSettings, me?: RateLimitSettings }
}

/** Paths pino blanks out wherever they appear in a log line: credentials never reach a log. */
export const REDACT_PATHS = [
  'req.headers.authorization', 'req.headers["stripe-signature"]', 'req.headers.cookie',
  'headers.authorization', 'headers["stripe-signature"]',
  '*.secret_key', '*.webhook_secret', '*.secretKey', '*.webhookSecret', '*.end_user_secret', '*.endUserSecret',
  '*.apiKey', '*.api_key', '*.password', '*.token',
]

/** `TRUST_PROXY=<n>`: trust the n proxies nearest to us (proxy-addr's meaning of a hop count). */
const hops = (n: number) => (_address: string, i: number): boolean => i < n

export async function buildApp ({ config, database, logStream, rateLimits }: BuildOptions): Promise<FastifyInstance> {
  const owned = database === undefined
  const db = database ?? await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite`, poolSize: config.databasePoolSize })
  if (owned) await db.migrate()

  const app = Fastify({
    logger: {
      level: config.logLevel,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      ...(logStream ? { stream: logStream } : {}),
    },
    genReqId: () => randomUUID(),
    // Behind a proxy every client would share its address (and one rate-limit bucket); X-Forwarded-For is believed only when TRUST_PROXY says so.
    trustProxy: typeof config.trustProxy === 'number' ? hops(config.trustProxy) : config.trustProxy,
    bodyLimit: 1024 * 1024,
    // A request (headers and body) that has not fully arrived in time is answered 408 and its socket
    // closed: a client dribbling a byte every few seconds cannot hold a connection for long. Node checks
    // every second (its default of 30 s would let a slow request live 30 s past its timeout).
    requestTimeout: config.http.requestMs,
    http: { headersTimeout: config.http.headersMs, connectionsCheckingInterval: 1000 },
    // On close, in-flight requests finish (a webhook commits or rolls back) before the database closes.
    forceCloseConnections: 'idle',
  }).withTypeProvider<TypeBoxTypeProvider>()

  // Past this many open sockets new connections are refused at once, so slow clients cannot exhaust the process.
  app.server.maxConnections = config.http.maxConnections
  installValidators(app)
  app.decorate('config', config)
  app.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id) })
  for (const warning of config.warnings) app.log.warn(warning)

  await app.register(problemPlugin)
  await app.register(dbPlugin, { database: db, owned })
  await app.register(changesPlugin)
  await app.register(authPlugin)
  await app.register(stripeResolverPlugin)
  await app.register(openapiPlugin)
  await app.register(rateLimitStorePlugin, { url: config.redisUrl, prefix: config.redisKeyPrefix })
  await app.register(creditsSweepPlugin)
  await app.register(stripeSyncPlugin)

  await app.register(operationsRoutes)
  await app.register(async (api) => {
    await api.register(projectsRoutes)
    await api.register(paymentsRoutes, { prefix: '/payments' })
    await api.register(stripeConfigRoutes, { prefix: '/payments/stripe/projects' })
    await api.register(webhookRoutes, { prefix: '/payments/stripe/webhooks' })
    await api.register(webhookAdminRoutes, { prefix: '/payments/stripe/projects' })
    await api.register(projectPaymentsRoutes, { prefix: '/payments/stripe/projects' })
    await api.register(catalogRoutes, { prefix: '/payments/stripe/projects' })
    await api.register(stripeSyncRoutes, { prefix: '/payments/stripe/projects' })
    await api.register(publicCatalogRoutes, { prefix: '/public/projects' })
    await api.register(checkoutRoutes, { prefix: '/payments/stripe', rateLimit: rateLimits?.checkout ?? CHECKOUT_RATE_LIMIT })
    await api.register(meRoutes, { prefix: '/payments/stripe', rateLimit: rateLimits?.me ?? ME_RATE_LIMIT })
    await api.register(myCreditRoutes, { prefix: '/payments/stripe', rateLimit: rateLimits?.me ?? ME_RATE_LIMIT })
    await api.register(apiKeyRoutes)
    await api.register(creditRoutes, { prefix: '/credits' })
  }, { prefix: '/api/v1' })

  return app
}
