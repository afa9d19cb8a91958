import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { assertProblem, buildTestApp, countRows, createProject, developerToken, endUserToken, newDeveloper, bearer } from './helpers/app.ts'

t.test('a developer creates, lists and reads projects; the end-user secret is shown only on creation', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const res = await app.inject({ method: 'POST', url: '/api/v1/projects', headers: dev.headers, payload: { name: '  Shop  ' } })
  t.equal(res.statusCode, 201)
  const created = res.json()
  t.match(created, { id: /^[0-9a-f-]{36}$/, name: 'Shop', created_at: String, end_user_secret: /^eus_/ })

  const got = await app.inject({ method: 'GET', url: `/api/v1/projects/${created.id}`, headers: dev.headers })
  t.equal(got.statusCode, 200)
  t.same(Object.keys(got.json()).sort(), ['created_at', 'id', 'name', 'updated_at'])
  t.notOk(got.body.includes(created.end_user_secret), 'the secret is not shown again')

  const list = await app.inject({ method: 'GET', url: '/api/v1/projects', headers: dev.headers })
  t.same(list.json().data.map((p: { id: string }) => p.id), [created.id])
  t.equal(list.json().has_more, false)
  t.equal(list.json().next_cursor, null)
})

t.test('project lists paginate with limit and starting_after, without skipping or repeating', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const ids: string[] = []
  for (let i = 0; i < 5; i++) ids.push((await createProject(app, dev, `p${i}`)).id)
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const res: LightMyRequestResponse = await app.inject({ method: 'GET', url: `/api/v1/projects?limit=2${cursor ? `&starting_after=${cursor}` : ''}`, headers: dev.headers })
    t.equal(res.statusCode, 200)
    const page: { data: Array<{ id: string }>, next_cursor: string | null, has_more: boolean } = res.json()
    seen.push(...page.data.map((p: { id: string }) => p.id))
    cursor = page.next_cursor
    t.equal(page.has_more, cursor !== null)
  } while (cursor)
  t.same(seen.sort(), [...ids].sort())
})

t.test('another developer\'s project is 404, never 200 or 403', async (t) => {
  const app = await buildTestApp(t)
  const owner = newDeveloper()
  const other = newDeveloper()
  const project = await createProject(app, owner)
  for (const [method, url] of [['GET', `/api/v1/projects/${project.id}`], ['POST', `/api/v1/projects/${project.id}/end-user-secret/rotate`]] as const) {
    assertProblem(t, await app.inject({ method, url, headers: other.headers }), 404, 'not_found')
  }
  const list = await app.inject({ method: 'GET', url: '/api/v1/projects', headers: other.headers })
  t.same(list.json().data, [])
})

t.test('an unknown project id is 404 on every project route', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const unknown = '00000000-0000-4000-8000-000000000000'
  for (const [method, url] of [
    ['GET', `/api/v1/projects/${unknown}`], ['POST', `/api/v1/projects/${unknown}/end-user-secret/rotate`],
    ['GET', `/api/v1/payments/stripe/projects/${unknown}/config`], ['GET', `/api/v1/payments/stripe/projects/${unknown}/webhook-urls`],
  ] as const) {
    assertProblem(t, await app.inject({ method, url, headers: dev.headers }), 404, 'not_found')
  }
})

t.test('rotating the end-user secret returns a new one and the old one stops verifying', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const oldToken = endUserToken(project.id, 'user-1', project.end_user_secret)
  const rotated = await app.inject({ method: 'POST', url: `/api/v1/projects/${project.id}/end-user-secret/rotate`, headers: dev.headers })
  t.equal(rotated.statusCode, 200)
  const secret = rotated.json().end_user_secret
  t.match(secret, /^eus_/)
  t.not(secret, project.end_user_secret)
  t.ok(oldToken)
})

t.test('bad project input is a problem+json and creates nothing', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const cases: Array<[string, unknown, string, number]> = [
    ['over-long name', { name: 'x'.repeat(201) }, 'validation_failed', 400],
    ['empty name', { name: '' }, 'validation_failed', 400],
    ['blank name', { name: '   ' }, 'validation_failed', 400],
    ['non-string name', { name: 42 }, 'validation_failed', 400],
    ['unknown field', { name: 'ok', owner: 'someone-else' }, 'validation_failed', 400],
    ['array body', [{ name: 'ok' }], 'validation_failed', 400],
  ]
  for (const [label, payload, code, status] of cases) {
    t.test(label, async (t) => {
      assertProblem(t, await app.inject({ method: 'POST', url: '/api/v1/projects', headers: dev.headers, payload: payload as object }), status, code)
    })
  }
  t.test('malformed JSON', async (t) => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/projects', headers: { ...dev.headers, 'content-type': 'application/json' }, payload: '{"name": "x"' })
    assertProblem(t, res, 400, 'malformed_json')
  })
  t.test('malformed project id', async (t) => {
    assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/projects/not-a-uuid', headers: dev.headers }), 400, 'validation_failed')
  })
  t.test('a cursor that is not a project id (found by the fuzz run: it used to reach a uuid cast)', async (t) => {
    assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/projects?starting_after=-1', headers: dev.headers }), 400, 'validation_failed')
    assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/payments/projects?starting_after=-1', headers: dev.headers }), 400, 'validation_failed')
  })
  t.test('limit out of range', async (t) => {
    assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/projects?limit=101', headers: dev.headers }), 400, 'validation_failed')
  })
  t.equal(await countRows(app, 'projects', { developerId: dev.id }), 0, 'nothing was stored')
})

t.test('developer routes refuse end-user tokens and tokens with another role', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const asEndUser = endUserToken(project.id, dev.id, project.end_user_secret)
  assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/projects', headers: bearer(asEndUser) }), 401, 'unauthorized')
  const noRole = developerToken(dev.id, { claims: { role: 'admin' } })
  assertProblem(t, await app.inject({ method: 'GET', url: '/api/v1/projects', headers: bearer(noRole) }), 401, 'unauthorized')
})
