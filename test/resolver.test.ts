import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import type { StripeLocal } from '../stripe-local/index.ts'
import { buildTestApp, configureStripe, createProject, newDeveloper, secondConnection, startLocalStripe, TEST_DATABASE_URL } from './helpers/app.ts'

async function keys (local: StripeLocal) {
  const a = await local.createAccount()
  return { secret_key: a.test.secret_key, publishable_key: a.test.publishable_key }
}

async function until (condition: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) return false
    await sleep(10)
  }
  return true
}

t.test('a miss queries and decrypts once; a hit does neither and returns the same client', async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  await configureStripe(app, dev, project.id, { ...await keys(local), webhook_secret: 'whsec_resolverTestSecret0123456789' })
  const before = app.stripeResolver.stats()
  const first = await app.stripeResolver.resolve(project.id, 'test')
  const afterMiss = app.stripeResolver.stats()
  t.equal(afterMiss.misses - before.misses, 1)
  t.equal(afterMiss.queries - before.queries, 1)
  t.equal(afterMiss.decryptions - before.decryptions, 2, 'secret key and webhook secret')
  const second = await app.stripeResolver.resolve(project.id, 'test')
  const afterHit = app.stripeResolver.stats()
  t.equal(afterHit.hits - afterMiss.hits, 1)
  t.equal(afterHit.queries, afterMiss.queries, 'no query on a hit')
  t.equal(afterHit.decryptions, afterMiss.decryptions, 'no decryption on a hit')
  t.equal(second, first)
  t.same(first?.webhookSecrets, ['whsec_resolverTestSecret0123456789'])
  const account = await first?.stripe.accounts.retrieveCurrent()
  t.match(account?.id, /^acct_/, 'the client talks to the configured Stripe')
  t.equal(await app.stripeResolver.resolve(project.id, 'live'), null, 'an unconfigured mode resolves to null')
})

t.test('the instance that writes a configuration uses it at once, without waiting for its own NOTIFY', async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  for (let version = 1; version <= 5; version++) {
    await configureStripe(app, dev, project.id, await keys(local))
    const resolved = await app.stripeResolver.resolve(project.id, 'test')
    t.equal(resolved?.version, version, `version ${version} right after its PUT`)
  }
  const del = await app.inject({ method: 'DELETE', url: `/api/v1/payments/stripe/projects/${project.id}/config`, headers: dev.headers })
  t.equal(del.statusCode, 200)
  t.equal((await app.stripeResolver.resolve(project.id, 'test'))?.active, false, 'deactivated at once')
})

t.test('a PUT or DELETE on another instance makes this instance drop its cached client', async (t) => {
  const local = await startLocalStripe(t)
  const a = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const b = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url }, database: await secondConnection(t) })
  t.comment(TEST_DATABASE_URL ? 'instances on separate connection pools to one Postgres (LISTEN/NOTIFY)' : 'instances sharing one embedded database (in-process NOTIFY)')
  const dev = newDeveloper()
  const project = await createProject(a, dev)
  await configureStripe(a, dev, project.id, await keys(local))
  const cached = await a.stripeResolver.resolve(project.id, 'test')
  t.equal(cached?.version, 1)

  const invalidations = a.stripeResolver.stats().invalidations
  await configureStripe(b, dev, project.id, await keys(local))
  t.ok(await until(() => a.stripeResolver.stats().invalidations > invalidations), 'instance A heard of the change')
  const fresh = await a.stripeResolver.resolve(project.id, 'test')
  t.equal(fresh?.version, 2, 'A now uses the new configuration')
  t.not(fresh?.stripe, cached?.stripe)

  const before = a.stripeResolver.stats().invalidations
  const del = await b.inject({ method: 'DELETE', url: `/api/v1/payments/stripe/projects/${project.id}/config`, headers: dev.headers })
  t.equal(del.statusCode, 200)
  t.ok(await until(() => a.stripeResolver.stats().invalidations > before))
  const deactivated = await a.stripeResolver.resolve(project.id, 'test')
  t.equal(deactivated?.active, false, 'the deactivated configuration is never used as active again')
})

t.test('the cache is bounded: the least recently used client is evicted', async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url, STRIPE_CLIENT_CACHE_SIZE: '2' } })
  const dev = newDeveloper()
  const projects = []
  for (let i = 0; i < 3; i++) {
    const p = await createProject(app, dev, `p${i}`)
    await configureStripe(app, dev, p.id, await keys(local))
    projects.push(p)
  }
  for (const p of projects) await app.stripeResolver.resolve(p.id, 'test')
  t.equal(app.stripeResolver.stats().size, 2, 'never more than the bound')
  const misses = app.stripeResolver.stats().misses
  await app.stripeResolver.resolve(projects[2]?.id ?? '', 'test')
  t.equal(app.stripeResolver.stats().misses, misses, 'the most recent is still cached')
  await app.stripeResolver.resolve(projects[0]?.id ?? '', 'test')
  t.equal(app.stripeResolver.stats().misses, misses + 1, 'the oldest was evicted')
})
