import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../../src/app.ts'
import { assertProblem, bearer, createProject, endUserToken, newDeveloper, testConfig, testDatabase, type CreatedProject } from '../helpers/app.ts'

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

async function instance (t: Test, env: Record<string, string> = {}, rateLimits?: BuildOptions['rateLimits']): Promise<FastifyInstance> {
  const app = await buildApp({ config: testConfig(env), database: (await testDatabase()).database, ...(rateLimits ? { rateLimits } : {}) })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

const me = (project: CreatedProject, user: string, extra: Record<string, string> = {}) => ({
  method: 'GET' as const, url: '/api/v1/payments/stripe/my-payments', headers: { ...bearer(endUserToken(project.id, user, project.end_user_secret)), ...extra },
})
const badToken = (extra: Record<string, string> = {}) => ({
  method: 'GET' as const, url: '/api/v1/payments/stripe/my-payments', headers: { authorization: 'Bearer not.a.token', ...extra },
})

t.test('requests with invalid tokens fill their own bucket, never a valid user\'s', async (t) => {
  const app = await instance(t, {}, { me: { userMax: 50, ipMax: 50, anonymousMax: 5, windowMs: 60_000 } })
  const project = await createProject(app, newDeveloper())
  const codes: number[] = []
  for (let i = 0; i < 100; i++) codes.push((await app.inject(badToken())).statusCode)
  t.same(codes.slice(0, 5), [401, 401, 401, 401, 401])
  t.ok(codes.slice(5).every((c) => c === 429), 'then 429 for the guesser')
  assertProblem(t, await app.inject(badToken()), 429, 'rate_limited')
  const fresh = await app.inject(me(project, 'fresh-user'))
  t.equal(fresh.statusCode, 200, 'a fresh valid user from the same address is served')
})

t.test('TRUST_PROXY: X-Forwarded-For names the client only when set', async (t) => {
  const limits = { me: { userMax: 50, ipMax: 2, anonymousMax: 2, windowMs: 60_000 } }
  const direct = await instance(t, {}, limits)
  const project = await createProject(direct, newDeveloper())
  const behind = (ip: string) => ({ 'x-forwarded-for': ip })
  t.equal((await direct.inject(me(project, 'a', behind('203.0.113.1')))).statusCode, 200)
  t.equal((await direct.inject(me(project, 'b', behind('203.0.113.2')))).statusCode, 200)
  assertProblem(t, await direct.inject(me(project, 'c', behind('203.0.113.3'))), 429, 'rate_limited')

  const proxied = await instance(t, { TRUST_PROXY: '127.0.0.1' }, limits)
  for (let i = 1; i <= 3; i++) t.equal((await proxied.inject(me(project, `u${i}`, behind(`198.51.100.${i}`)))).statusCode, 200, `client ${i} has its own bucket`)
  t.equal((await proxied.inject(me(project, 'u4', behind('198.51.100.1')))).statusCode, 200)
  assertProblem(t, await proxied.inject(me(project, 'u5', behind('198.51.100.1'))), 429, 'rate_limited')
})

const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
probe.on('error', () => {})
const reachable = await probe.connect().then(() => probe.ping()).then(() => true, () => false)
probe.disconnect()

t.test('REDIS_URL: two instances share every limit', { skip: reachable ? false : `Redis is not reachable at ${REDIS_URL}: the shared-limit test needs it` }, async (t) => {
  const env = { REDIS_URL, REDIS_KEY_PREFIX: `test:${randomBytes(6).toString('hex')}:` }
  const limits = { me: { userMax: 4, ipMax: 100, anonymousMax: 3, windowMs: 60_000 } }
  const a = await instance(t, env, limits)
  const b = await instance(t, env, limits)
  const project = await createProject(a, newDeveloper())
  const codes: number[] = []
  for (let i = 0; i < 6; i++) codes.push((await (i % 2 ? b : a).inject(me(project, 'shared-user'))).statusCode)
  t.same(codes, [200, 200, 200, 200, 429, 429], 'four in all, whichever instance serves them')
  const bad: number[] = []
  for (let i = 0; i < 4; i++) bad.push((await (i % 2 ? a : b).inject(badToken())).statusCode)
  t.same(bad, [401, 401, 401, 429], 'the invalid-token bucket is shared too')
  const alone = await instance(t, { REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX }, limits)
  t.equal((await alone.inject(me(project, 'shared-user'))).statusCode, 200, 'without REDIS_URL an instance counts alone')
})
