import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from './errors.ts'

export interface RateLimitSettings {
  /** Requests per window per end user (project id + subject). */
  userMax: number
  /** Authenticated requests per window per client IP (`TRUST_PROXY` decides what the client IP is). */
  ipMax: number
  /** Requests whose token failed, per window per client IP: a bucket of their own, so guessing never blocks valid users. Default ipMax ÷ 5. */
  anonymousMax?: number
  windowMs: number
}

export interface RateLimitHooks {
  /** The route group's onRequest hook: authenticates with `authenticate`, counting failures and successes apart. */
  guard (req: FastifyRequest, reply: FastifyReply): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The Redis the rate limits share with every instance (REDIS_URL); null: counters in this process. */
    rateLimitRedis: Redis | null
    rateLimitPrefix: string
  }
}

/**
 * One Redis connection per instance for the rate limits, when `url` is set. A command fails fast
 * while Redis is unreachable, and the limiter then lets the request through (logged): an outage of
 * the limiter's store does not take the service down with it.
 */
export const rateLimitStorePlugin = fp<{ url: string | undefined, prefix: string }>(async (app, { url, prefix }) => {
  let redis: Redis | null = null
  if (url) {
    redis = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 1, enableOfflineQueue: false })
    let down = false
    redis.on('error', (err: Error) => { if (!down) app.log.warn({ err: { message: err.message } }, 'rate limits: Redis is unreachable; requests are not limited until it is back'); down = true })
    redis.on('ready', () => { if (down) app.log.info('rate limits: Redis is back'); down = false })
    try {
      await redis.connect()
    } catch (err) {
      app.log.warn({ err: { message: (err as Error).message } }, 'rate limits: could not reach Redis at start-up; retrying in the background')
    }
    const client = redis
    app.addHook('onClose', async () => { client.disconnect() })
  }
  app.decorate('rateLimitRedis', redis)
  app.decorate('rateLimitPrefix', prefix)
}, { name: 'rate-limit-store' })

/**
 * Three counters for the route group `group` (not global), in Redis when REDIS_URL is set, else
 * in this process: per client IP for requests whose token failed (before anything else is spent
 * on them), and, once authenticated, per client IP and per end user. The plugin's own hook marks a
 * request as limited after its first check, so a second limit would be skipped: all are checked
 * through `createRateLimit` instead.
 */
export async function endUserRateLimits (app: FastifyInstance, group: string, settings: RateLimitSettings, authenticate: (req: FastifyRequest) => Promise<void>): Promise<RateLimitHooks> {
  await app.register(rateLimit, {
    global: false,
    ...(app.rateLimitRedis ? { redis: app.rateLimitRedis, nameSpace: `${app.rateLimitPrefix}${group}:`, skipOnError: true } : {}),
  })
  const limiter = (max: number, key: (req: FastifyRequest) => string) => {
    const check = app.createRateLimit({ max, timeWindow: settings.windowMs, keyGenerator: key })
    return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const outcome = await check(req)
      if (outcome.isAllowed) return
      reply.header('x-ratelimit-limit', outcome.max)
      reply.header('x-ratelimit-remaining', outcome.remaining)
      reply.header('x-ratelimit-reset', outcome.ttlInSeconds)
      if (outcome.isExceeded) {
        throw new AppError(429, 'rate_limited', 'Too many requests', `Too many requests; retry in ${outcome.ttlInSeconds} s`, { retry_after: outcome.ttlInSeconds })
      }
    }
  }
  const anonymous = limiter(settings.anonymousMax ?? Math.max(1, Math.floor(settings.ipMax / 5)), (req) => `anon:${req.ip}`)
  const byIp = limiter(settings.ipMax, (req) => `ip:${req.ip}`)
  const byUser = limiter(settings.userMax, (req) => (req.endUser ? `user:${req.endUser.projectId}:${req.endUser.id}` : `ip:${req.ip}`))
  return {
    async guard (req, reply) {
      try {
        await authenticate(req)
      } catch (err) {
        if (err instanceof AppError && err.status === 401) await anonymous(req, reply)
        throw err
      }
      await byIp(req, reply)
      await byUser(req, reply)
    },
  }
}
