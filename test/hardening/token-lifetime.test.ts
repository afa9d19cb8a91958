import t from 'tap'
import { createSigner } from 'fast-jwt'
import { TEST_JWT_SECRET, assertProblem, bearer, buildTestApp, createProject, developerToken, endUserToken, newDeveloper, newDeveloperId } from '../helpers/app.ts'

const now = () => Math.floor(Date.now() / 1000)
const YEAR_3000 = 32_503_680_000

t.test('developer tokens: exp mandatory, lifetime bounded, iat not in the future; 401 says why', async (t) => {
  const app = await buildTestApp(t)
  const sub = newDeveloperId()
  const get = (token: string) => app.inject({ url: '/api/v1/projects', headers: bearer(token) })
  const noExp = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256' })({ sub, role: 'developer' })
  assertProblem(t, await get(noExp), 401, 'token_exp_missing')
  assertProblem(t, await get(createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', noTimestamp: true })({ sub, role: 'developer' })), 401, 'token_exp_missing')
  assertProblem(t, await get(developerToken(sub, { claims: { exp: YEAR_3000 } })), 401, 'token_lifetime_too_long')
  assertProblem(t, await get(developerToken(sub, { expiresIn: 2 * 86_400_000 })), 401, 'token_lifetime_too_long')
  assertProblem(t, await get(developerToken(sub, { claims: { iat: now() + 3600, exp: now() + 7200 } })), 401, 'token_issued_in_future')
  assertProblem(t, await get(developerToken(sub, { claims: { exp: now() - 60 } })), 401, 'token_expired')
  assertProblem(t, await get(developerToken(sub, { claims: { iat: 'soon', exp: now() + 60 } })), 401, 'unauthorized')
  t.equal((await get(developerToken(sub, { claims: { iat: now() + 30, exp: now() + 3600 } }))).statusCode, 200, 'a small clock skew is fine')
  t.equal((await get(developerToken(sub, { expiresIn: 86_400_000 }))).statusCode, 200, '24 h, the default maximum, is fine')
  const noIat = createSigner({ key: TEST_JWT_SECRET, algorithm: 'HS256', noTimestamp: true })({ sub, role: 'developer', exp: now() + 600 })
  t.equal((await get(noIat)).statusCode, 200, 'without iat the lifetime counts from now')
})

t.test('JWT_MAX_LIFETIME_DEVELOPER and JWT_MAX_LIFETIME_END_USER set the bounds', async (t) => {
  const app = await buildTestApp(t, { env: { JWT_MAX_LIFETIME_DEVELOPER: '600', JWT_MAX_LIFETIME_END_USER: '300' } })
  const dev = newDeveloper()
  assertProblem(t, await app.inject({ url: '/api/v1/projects', headers: bearer(developerToken(dev.id, { expiresIn: 3_600_000 })) }), 401, 'token_lifetime_too_long')
  t.equal((await app.inject({ url: '/api/v1/projects', headers: bearer(developerToken(dev.id, { expiresIn: 600_000 })) })).statusCode, 200)
  const project = await createProject(app, { ...dev, headers: bearer(developerToken(dev.id, { expiresIn: 600_000 })) })
  const url = '/api/v1/payments/stripe/my-subscription'
  assertProblem(t, await app.inject({ url, headers: bearer(endUserToken(project.id, 'u', project.end_user_secret, { exp: now() + 600 })) }), 401, 'token_lifetime_too_long')
  t.equal((await app.inject({ url, headers: bearer(endUserToken(project.id, 'u', project.end_user_secret, { exp: now() + 300 })) })).statusCode, 200)
})

t.test('end-user tokens: the same rules', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const url = '/api/v1/payments/stripe/my-subscription'
  const get = (token: string) => app.inject({ url, headers: bearer(token) })
  const base = { sub: 'u1', project_id: project.id, role: 'end_user' }
  assertProblem(t, await get(createSigner({ key: project.end_user_secret, algorithm: 'HS256' })(base)), 401, 'token_exp_missing')
  assertProblem(t, await get(endUserToken(project.id, 'u1', project.end_user_secret, { exp: YEAR_3000 })), 401, 'token_lifetime_too_long')
  assertProblem(t, await get(endUserToken(project.id, 'u1', project.end_user_secret, { iat: now() + 600, exp: now() + 1200 })), 401, 'token_issued_in_future')
  assertProblem(t, await get(endUserToken(project.id, 'u1', project.end_user_secret, { exp: now() - 10 })), 401, 'token_expired')
  t.equal((await get(endUserToken(project.id, 'u1', project.end_user_secret))).statusCode, 200)
})

t.test('npm run token mints end-user tokens with an exp the service accepts', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const app = await buildTestApp(t)
  const project = await createProject(app, newDeveloper())
  const token = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', 'end-user', project.id, 'u9', project.end_user_secret], {
    cwd: new URL('../..', import.meta.url), encoding: 'utf8', env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}` },
  }).trim()
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number, iat: number }
  t.ok(payload.exp - payload.iat <= 86_400, 'within the default maximum')
  t.equal((await app.inject({ url: '/api/v1/payments/stripe/my-subscription', headers: bearer(token) })).statusCode, 200)
})
