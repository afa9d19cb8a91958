import t from 'tap'
import { createSigner } from 'fast-jwt'
import { assertProblem, bearer, buildTestApp, createProject, endUserToken, newDeveloper } from './helpers/app.ts'

const url = '/api/v1/payments/stripe/my-subscription'
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

t.test('an end-user token verifies with the secret of the project it names, and only that one', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const a = await createProject(app, dev, 'A')
  const b = await createProject(app, dev, 'B')
  const valid = await app.inject({ url, headers: bearer(endUserToken(a.id, 'user-1', a.end_user_secret)) })
  t.equal(valid.statusCode, 200, 'its own project\'s secret verifies')
  t.same(valid.json(), { data: null, active: [], duplicate_active: false }, 'and sees no subscription yet')

  const cases: Array<[string, string]> = [
    ['signed with another project\'s secret', endUserToken(a.id, 'user-1', b.end_user_secret)],
    ['naming a project that does not exist', endUserToken('00000000-0000-4000-8000-000000000000', 'user-1', a.end_user_secret)],
    ['without a project_id', createSigner({ key: a.end_user_secret, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'user-1', role: 'end_user' })],
    ['with a malformed project_id', endUserToken('not-a-uuid', 'user-1', a.end_user_secret)],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'user-1', project_id: a.id, role: 'end_user' })}.`],
    ['a developer token', createSigner({ key: a.end_user_secret, algorithm: 'HS256', expiresIn: 60_000 })({ sub: 'user-1', project_id: a.id, role: 'developer' })],
    ['without a subject', endUserToken(a.id, '', a.end_user_secret)],
  ]
  for (const [label, token] of cases) {
    t.test(label, async (t) => { assertProblem(t, await app.inject({ url, headers: bearer(token) }), 401, 'unauthorized') })
  }
  t.test('a developer token on an end-user route', async (t) => {
    assertProblem(t, await app.inject({ url, headers: dev.headers }), 401, 'unauthorized')
  })
})

t.test('after rotation the old end-user secret is refused and the new one accepted', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const before = endUserToken(project.id, 'user-1', project.end_user_secret)
  t.equal((await app.inject({ url, headers: bearer(before) })).statusCode, 200, 'works, and is now cached')
  const rotated = await app.inject({ method: 'POST', url: `/api/v1/projects/${project.id}/end-user-secret/rotate`, headers: dev.headers })
  const secret: string = rotated.json().end_user_secret
  const deadline = Date.now() + 5000
  let res = await app.inject({ url, headers: bearer(before) })
  while (res.statusCode === 200 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    res = await app.inject({ url, headers: bearer(before) })
  }
  assertProblem(t, res, 401, 'unauthorized')
  t.equal((await app.inject({ url, headers: bearer(endUserToken(project.id, 'user-1', secret)) })).statusCode, 200)
})
