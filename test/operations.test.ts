import t from 'tap'
import { assertProblem, buildTestApp } from './helpers/app.ts'

t.test('/health answers without the database; /ready checks it', async (t) => {
  const app = await buildTestApp(t)
  t.same((await app.inject({ url: '/health' })).json(), { status: 'ok' })
  const ready = await app.inject({ url: '/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { status: 'ready', database: /^(postgres|pglite)$/ })
  t.match(ready.headers['x-request-id'], /^[0-9a-f-]{36}$/)
})

t.test('/docs serves the OpenAPI UI and its document', async (t) => {
  const app = await buildTestApp(t)
  const ui = await app.inject({ url: '/docs/' })
  t.equal(ui.statusCode, 200)
  t.match(ui.headers['content-type'], /html/)
  const json = await app.inject({ url: '/docs/json' })
  t.equal(json.json().info.title, 'Stripe payments platform')
})

t.test('an unknown route is a problem+json 404', async (t) => {
  const app = await buildTestApp(t)
  assertProblem(t, await app.inject({ url: '/api/v1/nothing-here' }), 404, 'route_not_found')
})
