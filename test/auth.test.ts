import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { assertProblem, bearer, buildTestApp, developerToken, newDeveloperId } from './helpers/app.ts'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
const url = '/api/v1/projects'

t.test('a valid developer token is accepted', async (t) => {
  const app = await buildTestApp(t)
  const res = await app.inject({ method: 'GET', url, headers: bearer(developerToken(newDeveloperId())) })
  t.equal(res.statusCode, 200)
})

t.test('missing, malformed, expired, alg none and wrongly signed tokens are 401 problem+json', async (t) => {
  const app = await buildTestApp(t)
  const sub = newDeveloperId()
  const now = Math.floor(Date.now() / 1000)
  const cases: Array<[string, Record<string, string>]> = [
    ['missing header', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['not a bearer scheme', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
    ['not a JWT', { authorization: 'Bearer not-a-jwt' }],
    ['garbage segments', { authorization: 'Bearer a.b.c' }],
    ['not yet valid', bearer(developerToken(sub, { claims: { nbf: now + 3600 } }))],
    ['alg none', { authorization: `Bearer ${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub, role: 'developer' })}.` }],
    ['wrong key', bearer(developerToken(sub, { secret: 'another-secret-that-is-long-enough-000' }))],
    ['HS512 with the right key', bearer(createSigner({ key: 'x', algorithm: 'HS512', expiresIn: 60_000 })({ sub, role: 'developer' }))],
    ['no subject', bearer(createSigner({ key: process.env.X ?? 'x', algorithm: 'HS256', expiresIn: 60_000 })({ role: 'developer' }))],
    ['over-long subject', bearer(developerToken('d'.repeat(129)))],
    ['wrong role', bearer(developerToken(sub, { claims: { role: 'end_user' } }))],
  ]
  for (const [label, headers] of cases) {
    t.test(label, async (t) => {
      assertProblem(t, await app.inject({ method: 'GET', url, headers }), 401, 'unauthorized')
    })
  }
})

t.test('a tampered payload fails verification', async (t) => {
  const app = await buildTestApp(t)
  const token = developerToken(newDeveloperId())
  const [header, , signature] = token.split('.')
  const forged = `${header}.${b64({ sub: 'someone-else', role: 'developer' })}.${signature}`
  assertProblem(t, await app.inject({ method: 'GET', url, headers: bearer(forged) }), 401, 'unauthorized')
})

t.test('with JWT_PUBLIC_KEY, RS256 tokens verify and HS256 tokens keyed with the public key do not', async (t) => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const app = await buildTestApp(t, { env: { JWT_PUBLIC_KEY: pem, JWT_SECRET: undefined } })
  const sub = newDeveloperId()
  const rs = createSigner({ key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm: 'RS256', expiresIn: 60_000 })({ sub, role: 'developer' })
  t.equal((await app.inject({ method: 'GET', url, headers: bearer(rs) })).statusCode, 200)
  const confused = createSigner({ key: pem, algorithm: 'HS256', expiresIn: 60_000 })({ sub, role: 'developer' })
  assertProblem(t, await app.inject({ method: 'GET', url, headers: bearer(confused) }), 401, 'unauthorized')
})

t.test('npm run token mints a developer token the service accepts', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const { TEST_JWT_SECRET } = await import('./helpers/app.ts')
  const app = await buildTestApp(t)
  const token = execFileSync(process.execPath, ['--import', 'tsx', 'scripts/token.ts', 'developer', 'dev_from_script', '--expires-in', '5m'], {
    cwd: new URL('..', import.meta.url), env: { ...process.env, JWT_SECRET: TEST_JWT_SECRET, ENCRYPTION_KEYS: `k:${Buffer.alloc(32).toString('base64')}` }, encoding: 'utf8',
  }).trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  const res = await app.inject({ method: 'POST', url, headers: bearer(token), payload: { name: 'From script' } })
  t.equal(res.statusCode, 201)
  const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { sub: string, role: string, exp: number }
  t.match(payload, { sub: 'dev_from_script', role: 'developer' })
  t.ok(payload.exp - Date.now() / 1000 <= 300, 'expires as asked')
})
