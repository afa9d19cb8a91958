import t from 'tap'
import { configureStripe, createProject, secondConnection, TEST_DATABASE_URL, buildTestApp } from '../helpers/app.ts'
import { eventStatuses, postEvent, projectSnapshot, recordLifecycle, signed, webhookHarness } from '../helpers/webhooks.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'

t.test('two app instances on one Postgres receiving the same events concurrently apply them once', { skip: TEST_DATABASE_URL ? false : 'needs a Postgres server (DATABASE_URL): PGlite is one in-process database, so there is no second instance to race' }, async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const events = await recordLifecycle(t, h)
  const other = await buildTestApp(t, { database: await secondConnection(t), env: { STRIPE_API_BASE: h.local.url } })

  const fresh = async () => {
    const project = await createProject(h.app, h.dev, 'Two instances')
    const secret = `whsec_two_${project.id.replaceAll('-', '')}`
    await configureStripe(h.app, h.dev, project.id, { secret_key: h.account.test.secret_key, publishable_key: h.account.test.publishable_key, webhook_secret: secret })
    return { id: project.id, secret }
  }
  const baseline = await fresh()
  for (const body of events) await postEvent(h.app, baseline.id, body, signed(body, baseline.secret))
  const expected = await projectSnapshot(h.app, baseline.id)

  const project = await fresh()
  // Each instance gets every event, both at once (and each event twice in a row on the second one).
  const statusCodes: number[] = []
  const send = async (app: typeof h.app, bodies: string[]) => {
    for (const body of bodies) statusCodes.push((await postEvent(app, project.id, body, signed(body, project.secret))).statusCode)
  }
  await Promise.all([send(h.app, events), send(other, events.flatMap((b) => [b, b])), send(other, [...events].reverse())])
  t.ok(statusCodes.every((c) => c === 200), 'every delivery answered 200')
  t.same(await projectSnapshot(other, project.id), expected, 'the same state as one instance receiving them once, in order')
  const recorded = await eventStatuses(h.app, project.id)
  t.equal(recorded.length, new Set(events.map((b) => (JSON.parse(b) as { id: string }).id)).size, 'each event recorded once')
  t.ok(recorded.every((e) => e.attempts === 1 && e.status !== 'failed'), 'each applied on its first attempt')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: project.id })).drift, [])
})
