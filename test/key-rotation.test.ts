import { randomBytes } from 'node:crypto'
import t from 'tap'
import { eq } from 'drizzle-orm'
import { projects, stripeConfigs } from '../src/platform/db/schema.ts'
import { keyIdOf } from '../src/platform/crypto.ts'
import { rotateEncryptionKeys } from '../src/jobs/rotate-keys.ts'
import { buildTestApp, configureStripe, createProject, endUserToken, newDeveloper, startLocalStripe, TEST_KEYS, assertProblem, bearer } from './helpers/app.ts'

t.test('keys:rotate re-encrypts every secret under the first key; the old key can then be dropped', async (t) => {
  const local = await startLocalStripe(t)
  const old = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const project = await createProject(old, dev)
  const account = await local.createAccount()
  await configureStripe(old, dev, project.id, { secret_key: account.test.secret_key, publishable_key: account.test.publishable_key, webhook_secret: 'whsec_rotationTestSecret0123456789' })

  const newKey = `k2:${randomBytes(32).toString('base64')}`
  const both = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url, ENCRYPTION_KEYS: `${newKey},${TEST_KEYS}` } })
  const report = await rotateEncryptionKeys(both.db, both.config)
  t.ok(report.reencrypted >= 3, `re-encrypted ${report.reencrypted}`)
  const [config] = await both.db.select().from(stripeConfigs).where(eq(stripeConfigs.projectId, project.id))
  const [row] = await both.db.select().from(projects).where(eq(projects.id, project.id))
  t.equal(keyIdOf(config?.secretKey ?? ''), 'k2')
  t.equal(keyIdOf(config?.webhookSecret ?? ''), 'k2')
  t.equal(keyIdOf(row?.endUserSecret ?? ''), 'k2')

  const again = await rotateEncryptionKeys(both.db, both.config)
  t.equal(again.reencrypted, 0, 'a second run has nothing left to do')

  const onlyNew = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url, ENCRYPTION_KEYS: newKey } })
  const resolved = await onlyNew.stripeResolver.resolve(project.id, 'test')
  t.same(resolved?.webhookSecrets, ['whsec_rotationTestSecret0123456789'], 'decrypts with the new key alone')
  const validated = await onlyNew.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${project.id}/validate-credentials`, headers: dev.headers })
  t.equal(validated.json().valid, true)
})

t.test('a ciphertext swapped into another project\'s row fails closed with a bare 500', async (t) => {
  const local = await startLocalStripe(t)
  const app = await buildTestApp(t, { env: { STRIPE_API_BASE: local.url } })
  const dev = newDeveloper()
  const victim = await createProject(app, dev, 'victim')
  const attacker = await createProject(app, dev, 'attacker')
  const a = await local.createAccount()
  const b = await local.createAccount()
  await configureStripe(app, dev, victim.id, { secret_key: a.test.secret_key, publishable_key: a.test.publishable_key })
  await configureStripe(app, dev, attacker.id, { secret_key: b.test.secret_key, publishable_key: b.test.publishable_key })
  const [victimRow] = await app.db.select().from(stripeConfigs).where(eq(stripeConfigs.projectId, victim.id))
  await app.db.update(stripeConfigs).set({ secretKey: victimRow?.secretKey ?? '' }).where(eq(stripeConfigs.projectId, attacker.id))
  const res = await app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${attacker.id}/validate-credentials`, headers: dev.headers })
  assertProblem(t, res, 500, 'internal_error')
  t.notOk(res.body.includes(a.test.secret_key))
  t.notOk(res.body.includes('ciphertext'), 'no internals in the response')

  const [victimProject] = await app.db.select().from(projects).where(eq(projects.id, victim.id))
  await app.db.update(projects).set({ endUserSecret: victimProject?.endUserSecret ?? '' }).where(eq(projects.id, attacker.id))
  // The attacker's row now holds the victim's end-user secret ciphertext: it must not decrypt there.
  const withVictimSecret = await app.inject({ url: '/api/v1/payments/stripe/my-subscription', headers: bearer(endUserToken(attacker.id, 'u1', victim.end_user_secret)) })
  assertProblem(t, withVictimSecret, 401, 'unauthorized')
  t.notOk(withVictimSecret.body.includes(victim.end_user_secret))
  const withOwnSecret = await app.inject({ url: '/api/v1/payments/stripe/my-subscription', headers: bearer(endUserToken(attacker.id, 'u1', attacker.end_user_secret)) })
  assertProblem(t, withOwnSecret, 401, 'unauthorized')
})
