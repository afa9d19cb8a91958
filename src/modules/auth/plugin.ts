import fp from 'fastify-plugin'
import jwt, { type JwtVerifyFunction, type TokenOrHeader } from '@fastify/jwt'
import type { FastifyRequest } from 'fastify'
import { LRUCache } from 'lru-cache'
import { associatedData, open } from '../../platform/crypto.ts'
import { AppError, unauthorized } from '../../platform/http/errors.ts'
import { isUuid } from '../../platform/uuid.ts'
import { findEndUserSecret } from '../projects/repository.ts'
import { API_KEY, hashApiKey } from '../api-keys/model.ts'
import { findApiKeyByHash, touchApiKey } from '../api-keys/repository.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export interface DeveloperPrincipal { id: string }
export interface EndUserPrincipal { id: string, projectId: string }
/** A developer's backend calling with a project API key: it reaches only this project and mode. */
export interface ApiKeyPrincipal { keyId: string, projectId: string, mode: Mode }

declare module 'fastify' {
  interface FastifyInstance {
    authenticateDeveloper (req: FastifyRequest): Promise<void>
    authenticateEndUser (req: FastifyRequest): Promise<void>
    /** A project API key (`psk_…`), or else a developer token. */
    authenticateBackend (req: FastifyRequest): Promise<void>
  }
  interface FastifyRequest {
    developerJwtVerify: JwtVerifyFunction
    endUserJwtVerify: JwtVerifyFunction
    developer: DeveloperPrincipal | null
    endUser: EndUserPrincipal | null
    apiKey: ApiKeyPrincipal | null
  }
}

/** Clock skew tolerated between the token's issuer and us (an `iat` this far ahead is still fine). */
export const CLOCK_SKEW_SECONDS = 60

const tokenProblem = (code: string, detail: string): AppError => new AppError(401, code, 'Unauthorized', detail)

/** Why a verification failure is refused: expiry is worth saying, the rest is one `unauthorized`. */
function verifyFailure (err: unknown, fallback: string): AppError {
  if (err instanceof AppError) return err
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : ''
  if (code === 'FST_JWT_AUTHORIZATION_TOKEN_EXPIRED') return tokenProblem('token_expired', 'The token has expired (exp is past)')
  return unauthorized(fallback)
}

/**
 * A token must say when it ends (`exp`), may not live longer than the role allows (counted from
 * `iat`, or from now when it has none), and may not claim to be issued in the future.
 */
export function checkLifetime (claims: Record<string, unknown>, maxSeconds: number, nowSeconds = Math.floor(Date.now() / 1000)): void {
  const { exp, iat } = claims
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw tokenProblem('token_exp_missing', 'The token has no exp claim; every token must expire')
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) throw unauthorized('The token\'s iat claim is not a number')
  if (typeof iat === 'number' && iat > nowSeconds + CLOCK_SKEW_SECONDS) throw tokenProblem('token_issued_in_future', 'The token\'s iat is in the future')
  const from = typeof iat === 'number' ? iat : nowSeconds
  if (exp - from > maxSeconds + (typeof iat === 'number' ? 0 : CLOCK_SKEW_SECONDS)) {
    throw tokenProblem('token_lifetime_too_long', `The token lives longer than the ${maxSeconds} s allowed for its role`)
  }
}

const isSubject = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 128

/** The principal of a request whose onRequest hook authenticated it; absent only on a wiring mistake. */
export function developerOf (req: FastifyRequest): DeveloperPrincipal {
  if (!req.developer) throw unauthorized()
  return req.developer
}
export function apiKeyOf (req: FastifyRequest): ApiKeyPrincipal | null {
  return req.apiKey
}
export function endUserOf (req: FastifyRequest): EndUserPrincipal {
  if (!req.endUser) throw unauthorized()
  return req.endUser
}

/**
 * Developer tokens: HS256 with JWT_SECRET, or RS256/ES256 with JWT_PUBLIC_KEY.
 * End-user tokens: HS256 with the secret of the project the token names; the claim only picks the
 * key, so a token naming another project fails verification against that project's secret.
 */
export default fp(async (app) => {
  const { config } = app
  const developerKey = config.jwt.publicKey ?? config.jwt.secret ?? ''
  await app.register(jwt, {
    namespace: 'developer',
    secret: config.jwt.publicKey ? { public: config.jwt.publicKey } : developerKey,
    verify: { algorithms: config.jwt.publicKey ? ['RS256', 'ES256'] : ['HS256'] },
  })

  const secrets = new LRUCache<string, { secret: string, version: number }>({ max: 10_000 })
  // As in the Stripe resolver: never cache a secret older than the newest announced rotation.
  const announced = new LRUCache<string, number>({ max: 10_000 })
  let resets = 0
  app.changes.subscribe((change) => {
    if (change.kind !== 'end_user_secret') return
    announced.set(change.projectId, Math.max(announced.get(change.projectId) ?? 0, change.version))
    const cached = secrets.get(change.projectId)
    if (cached && cached.version < change.version) secrets.delete(change.projectId)
  }, () => { resets++; secrets.clear() })

  async function endUserSecret (projectId: string): Promise<string> {
    const cached = secrets.get(projectId)
    if (cached) return cached.secret
    const started = resets
    const row = await findEndUserSecret(app.db, projectId)
    if (!row) throw unauthorized()
    const secret = open(config, row.sealed, associatedData(projectId, null, 'end_user_secret'))
    if (started === resets && row.version >= (announced.get(projectId) ?? 0)) secrets.set(projectId, { secret, version: row.version })
    return secret
  }

  await app.register(jwt, {
    namespace: 'endUser',
    secret: async (_req: FastifyRequest, token: TokenOrHeader) => {
      const payload: unknown = 'payload' in token ? token.payload : undefined
      const projectId = typeof payload === 'object' && payload !== null && 'project_id' in payload ? payload.project_id : undefined
      if (typeof projectId !== 'string' || !isUuid(projectId)) throw unauthorized()
      return endUserSecret(projectId.toLowerCase())
    },
    decode: { complete: true },
    verify: { algorithms: ['HS256'] },
  })

  app.decorateRequest('developer', null)
  app.decorateRequest('endUser', null)
  app.decorateRequest('apiKey', null)

  // Keys by hash. A revocation reaches every instance through the change feed; a key is also looked
  // up again after a minute, so even a lost notification cannot keep a revoked key alive for long.
  const keys = new LRUCache<string, ApiKeyPrincipal>({ max: 10_000, ttl: 60_000 })
  const touched = new LRUCache<string, true>({ max: 10_000, ttl: 60_000 })
  app.changes.subscribe((change) => {
    if (change.kind !== 'api_key') return
    const revoked = [...keys.entries()].filter(([, key]) => key.keyId === change.keyId).map(([hash]) => hash)
    for (const hash of revoked) keys.delete(hash)
  }, () => { keys.clear() })

  async function apiKeyPrincipal (key: string): Promise<ApiKeyPrincipal> {
    if (!API_KEY.test(key)) throw unauthorized('The API key is malformed, revoked or unknown')
    const hash = hashApiKey(key)
    let principal = keys.get(hash)
    if (!principal) {
      const row = await findApiKeyByHash(app.db, hash)
      if (!row) throw unauthorized('The API key is malformed, revoked or unknown')
      principal = { keyId: row.id, projectId: row.projectId, mode: row.mode }
      keys.set(hash, principal)
    }
    if (!touched.has(principal.keyId)) {
      touched.set(principal.keyId, true)
      const id = principal.keyId
      touchApiKey(app.db, id).catch((err: unknown) => app.log.warn({ err, key_id: id }, 'could not record when an API key was used'))
    }
    return principal
  }

  app.decorate('authenticateBackend', async (req: FastifyRequest) => {
    const header = req.headers.authorization
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    if (token.startsWith('psk_')) {
      req.apiKey = await apiKeyPrincipal(token)
      return
    }
    await app.authenticateDeveloper(req)
  })

  app.decorate('authenticateDeveloper', async (req: FastifyRequest) => {
    let claims: Record<string, unknown>
    try {
      claims = await req.developerJwtVerify<Record<string, unknown>>()
    } catch (err) {
      throw verifyFailure(err, 'A valid developer token is required')
    }
    if (claims.role !== 'developer' || !isSubject(claims.sub)) throw unauthorized('A valid developer token is required')
    checkLifetime(claims, config.jwtMaxLifetime.developer)
    req.developer = { id: claims.sub }
  })

  app.decorate('authenticateEndUser', async (req: FastifyRequest) => {
    let claims: Record<string, unknown>
    try {
      claims = await req.endUserJwtVerify<Record<string, unknown>>()
    } catch (err) {
      throw verifyFailure(err, 'A valid end-user token is required')
    }
    if (claims.role !== 'end_user' || !isSubject(claims.sub) || typeof claims.project_id !== 'string') {
      throw unauthorized('A valid end-user token is required')
    }
    checkLifetime(claims, config.jwtMaxLifetime.endUser)
    req.endUser = { id: claims.sub, projectId: claims.project_id.toLowerCase() }
  })
}, { name: 'auth', dependencies: ['db', 'changes'] })
