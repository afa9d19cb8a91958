import t from 'tap'
import { buildTestApp, createProject, endUserToken, newDeveloper, startLocalStripe } from './helpers/app.ts'

t.test('keys and secrets sent through the API never appear in a log line or a response', async (t) => {
  const local = await startLocalStripe(t)
  const logs: string[] = []
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url }, logs })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const account = await local.createAccount()
  const webhookSecret = 'whsec_loggingTestSecret0123456789abcdef'
  const base = `/api/v1/payments/stripe/projects/${project.id}`
  const responses: string[] = []
  const call = async (method: 'GET' | 'PUT' | 'POST' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = dev.headers) => {
    const res = await app.inject({ method, url, headers, ...(payload !== undefined ? { payload: payload as object } : {}) })
    responses.push(res.body, JSON.stringify(res.headers))
    return res
  }

  await call('PUT', `${base}/config?test_mode=true`, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: webhookSecret })
  await call('PUT', `${base}/config?test_mode=false`, { secret_key: account.live.secret_key, publishable_key: account.live.publishable_key })
  await call('GET', `${base}/config?test_mode=true`)
  await call('POST', `${base}/validate-credentials?test_mode=true`)
  await call('GET', '/api/v1/payments/projects')
  // Bad inputs that carry secrets: the error must not echo them.
  await call('PUT', `${base}/config?test_mode=true`, { secret_key: account.live.secret_key, publishable_key: account.test.publishable_key })
  await call('PUT', `${base}/config?test_mode=true`, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, extra: account.test.secret_key })
  await call('PUT', `${base}/config?test_mode=true`, { secret_key: `${account.test.secret_key} `, publishable_key: account.test.publishable_key })
  await call('PUT', `${base}/config?test_mode=true`, `{"secret_key":"${account.test.secret_key}"`, { ...dev.headers, 'content-type': 'application/json' })
  // A rejected end-user token and a developer token are credentials too.
  await call('GET', '/api/v1/projects', undefined, { authorization: `Bearer ${endUserToken(project.id, 'u1', project.end_user_secret)}` })
  await call('POST', `/api/v1/projects/${project.id}/end-user-secret/rotate`)

  const secrets = [account.test.secret_key, account.live.secret_key, webhookSecret, project.end_user_secret, dev.token]
  const logText = logs.join('')
  t.ok(logs.length > 20, `log lines were captured (${logs.length})`)
  t.match(logText, /"request_id"|"reqId"/, 'every request line carries a request id')
  for (const secret of secrets) {
    t.notOk(logText.includes(secret), `no log line contains ${secret.slice(0, 8)}…`)
    t.notOk(responses.some((r) => r.includes(secret)), `no response contains ${secret.slice(0, 8)}…`)
  }
  t.notOk(logText.includes(account.test.secret_key.slice(8)), 'not even the key without its prefix')
})
