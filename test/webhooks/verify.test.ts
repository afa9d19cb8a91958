import { readFileSync } from 'node:fs'
import t from 'tap'
import { verifyWebhook, WebhookVerificationError } from '../../src/webhooks/verify.ts'
import { assertProblem, countRows, newDeveloper, configureStripe, createProject } from '../helpers/app.ts'
import { fakeEvent, postEvent, signed, webhookHarness } from '../helpers/webhooks.ts'

const vectors = JSON.parse(readFileSync('/work/shared/stripe/signature-examples.json', 'utf8')) as {
  endpoint_secret: string, timestamp: number, stripe_signature_header: string, secret_rolling_example: { previous_secret: string, header: string }
}
const fixture = readFileSync('/work/shared/stripe/events/payment_intent.succeeded.json')

t.test('verify.ts accepts Stripe\'s own test vectors, one v1 or several while a secret rolls', async (t) => {
  const { event } = verifyWebhook({ rawBody: fixture, signatureHeader: vectors.stripe_signature_header, secrets: [vectors.endpoint_secret], mode: 'test', now: vectors.timestamp + 10 })
  t.equal(event.type, 'payment_intent.succeeded')
  const { event: rolled } = verifyWebhook({ rawBody: fixture, signatureHeader: vectors.secret_rolling_example.header, secrets: [vectors.secret_rolling_example.previous_secret], mode: 'test', now: vectors.timestamp })
  t.equal(rolled.id, event.id)
  const reason = (fn: () => unknown) => { try { fn(); return 'ok' } catch (err) { return err instanceof WebhookVerificationError ? err.reason : 'other' } }
  t.equal(reason(() => verifyWebhook({ rawBody: fixture, signatureHeader: vectors.stripe_signature_header, secrets: [vectors.endpoint_secret], mode: 'test', now: vectors.timestamp + 301 })), 'timestamp_out_of_tolerance')
  const changed = Buffer.from(fixture)
  changed[10] = changed[10] === 0x41 ? 0x42 : 0x41
  t.equal(reason(() => verifyWebhook({ rawBody: changed, signatureHeader: vectors.stripe_signature_header, secrets: [vectors.endpoint_secret], mode: 'test', now: vectors.timestamp })), 'signature_mismatch')
  t.equal(reason(() => verifyWebhook({ rawBody: fixture, signatureHeader: vectors.stripe_signature_header, secrets: [vectors.endpoint_secret], mode: 'live', now: vectors.timestamp })), 'livemode_mismatch')
  t.equal(reason(() => verifyWebhook({ rawBody: fixture, signatureHeader: 't=1,v0=abc', secrets: [vectors.endpoint_secret], mode: 'test', now: 1 })), 'signature_malformed')
})

t.test('rejected deliveries are 400 problem+json and store nothing', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const other = newDeveloper()
  const otherProject = await createProject(h.app, other)
  const otherSecret = 'whsec_other_project_secret_0000000000'
  await configureStripe(h.app, other, otherProject.id, { secret_key: h.account.test.secret_key, publishable_key: h.account.test.publishable_key, webhook_secret: otherSecret })
  const event = fakeEvent('payment_intent.succeeded', { id: 'pi_rejected', object: 'payment_intent', amount: 500, amount_received: 500, currency: 'usd', metadata: {}, latest_charge: null, customer: null, description: null })
  const body = JSON.stringify(event)
  const live = JSON.stringify({ ...event, livemode: true })
  const now = Math.floor(Date.now() / 1000)
  // Signed by the project's secret, but not what the event definition reads: refused before anything is recorded.
  const noItems = JSON.stringify(fakeEvent('customer.subscription.updated', { id: 'sub_broken', object: 'subscription', status: 'active', customer: 'cus_1', created: now }))
  const notInvoice = JSON.stringify(fakeEvent('invoice.paid', { id: 'apply', object: 'prototype', amount: 5, currency: 'usd' }))
  const noAmount = JSON.stringify(fakeEvent('payment_intent.succeeded', { id: 'pi_no_amount', object: 'payment_intent', currency: 'usd' }))
  const cases: Array<[string, string | Buffer, string | undefined, string]> = [
    ['livemode mismatch', live, signed(live, h.secret), 'livemode_mismatch'],
    // Well past the 300 s tolerance: the cases run over a second or more, so `now` moves (the exact edge is tested above with a fixed clock).
    ['stale timestamp', body, signed(body, h.secret, now - 360), 'timestamp_out_of_tolerance'],
    ['timestamp from the future', body, signed(body, h.secret, now + 360), 'timestamp_out_of_tolerance'],
    ['wrong secret', body, signed(body, 'whsec_wrong'), 'signature_mismatch'],
    ['another project\'s secret', body, signed(body, otherSecret), 'signature_mismatch'],
    ['truncated body', body.slice(0, -5), signed(body, h.secret), 'signature_mismatch'],
    ['non-JSON body, correctly signed', 'not json at all', signed('not json at all', h.secret), 'malformed_body'],
    ['JSON that is not an event', '{"hello":"world"}', signed('{"hello":"world"}', h.secret), 'malformed_body'],
    ['a subscription event without items, correctly signed', noItems, signed(noItems, h.secret), 'malformed_event_object'],
    ['an invoice event whose object is no invoice, correctly signed', notInvoice, signed(notInvoice, h.secret), 'malformed_event_object'],
    ['a payment intent event without an amount, correctly signed', noAmount, signed(noAmount, h.secret), 'malformed_event_object'],
    ['no signature header', body, undefined, 'signature_missing'],
    ['garbage signature header', body, 'nonsense', 'signature_malformed'],
  ]
  for (const [label, payload, signature, code] of cases) {
    assertProblem(t, await postEvent(h.app, h.project.id, payload, signature), 400, code)
    t.comment(label)
  }
  const huge = JSON.stringify({ ...event, padding: 'x'.repeat(1024 * 1024) })
  assertProblem(t, await postEvent(h.app, h.project.id, huge, signed(huge, h.secret)), 413, 'payload_too_large')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 0, 'nothing stored')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 0)
  t.equal(await countRows(h.app, 'webhook_events', { projectId: otherProject.id }), 0)

  const ok = await postEvent(h.app, h.project.id, body, signed(body, ['whsec_rolled_out_old', h.secret]))
  t.equal(ok.statusCode, 200, 'several v1 signatures: any match is enough')
  t.same(ok.json(), { received: true })
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 1)
})

t.test('unknown project or mode is 404; a mode without configuration is 404', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const body = JSON.stringify(fakeEvent('customer.created', { id: 'cus_1', object: 'customer' }))
  const sig = signed(body, h.secret)
  const post = (path: string) => h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/webhooks/${path}`, payload: body, headers: { 'content-type': 'application/json', 'stripe-signature': sig } })
  assertProblem(t, await post(`${h.project.id}/staging`), 404, 'not_found')
  assertProblem(t, await post(`00000000-0000-4000-8000-000000000000/test`), 404, 'not_found')
  assertProblem(t, await post(`not-a-uuid/test`), 404, 'not_found')
  assertProblem(t, await post(`${h.project.id}/live`), 404, 'not_found')
  const res = await h.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/webhooks/${h.project.id}/test`, payload: body, headers: { 'content-type': 'text/plain', 'stripe-signature': sig } })
  t.equal(res.statusCode, 415)
})

t.test('a deactivated configuration still verifies and records events', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const del = await h.app.inject({ method: 'DELETE', url: `/api/v1/payments/stripe/projects/${h.project.id}/config?test_mode=true`, headers: h.dev.headers })
  t.equal(del.statusCode, 200)
  t.equal(del.json().active, false)
  const body = JSON.stringify(fakeEvent('payment_intent.succeeded', { id: 'pi_after_deactivation', object: 'payment_intent', amount: 700, amount_received: 700, currency: 'usd', metadata: {}, latest_charge: 'ch_1', customer: null, description: 'late' }))
  const res = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.equal(res.statusCode, 200)
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 1)
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 1)
})

t.test('an ignored type is recorded and answered 200', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const body = JSON.stringify(fakeEvent('customer.created', { id: 'cus_1', object: 'customer' }))
  const res = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.equal(res.statusCode, 200)
  t.same(res.json(), { received: true, ignored: true })
  const again = await postEvent(h.app, h.project.id, body, signed(body, h.secret))
  t.same(again.json(), { received: true, duplicate: true })
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 1)
})
