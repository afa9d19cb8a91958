import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError } from './errors.ts'

export interface RateLimitSettings {
  /** Requests per window per end user (project id + subject). */
  userMax: number
  /** Requests per window per client IP, counted before authentication. */
  ipMax: number
  windowMs: number
}

export interface RateLimitHooks {
  byIp (req: FastifyRequest, reply: FastifyReply): Promise<void>
  byUser (req: FastifyRequest, reply: FastifyReply): Promise<void>
}

/**
 * Two counters for the route plugin it is called in (not global): per IP, placed before
 * authentication so token guessing is throttled too, and per end user, placed after it.
 * The plugin's own hook marks a request as limited after its first check, so a second limit
 * would be skipped: both are checked through `createRateLimit` instead.
 * Counters live in this process; with several instances each enforces its own share.
 */
export async function endUserRateLimits (app: FastifyInstance, settings: RateLimitSettings): Promise<RateLimitHooks> {
  await app.register(rateLimit, { global: false })
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
  return {
    byIp: limiter(settings.ipMax, (req) => `ip:${req.ip}`),
    byUser: limiter(settings.userMax, (req) => (req.endUser ? `user:${req.endUser.projectId}:${req.endUser.id}` : `ip:${req.ip}`)),
  }
}
