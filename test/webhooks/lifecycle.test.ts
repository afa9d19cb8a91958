import t from 'tap'
import type Stripe from 'stripe'
import { dashboard, monthlyPrice, oneTimePrice } from '../stripe-local/helpers.ts'
import { eventStatuses, projectSnapshot, webhookHarness } from '../helpers/webhooks.ts'

t.test('a subscription checkout, renewal, failed renewal, recovery and cancellation, delivered by the local Stripe server', async (t) => {
  const h = await webhookHarness(t)
  const price = await monthlyPrice(h.stripe, 2000)
  const metadata = { project_id: h.project.id, end_user_id: 'user-1', mode: 'test' }
  const session = await h.stripe.checkout.sessions.create({
    mode: 'subscription', line_items: [{ price: price.id, quantity: 2 }], client_reference_id: 'user-1', metadata,
    subscription_data: { metadata }, success_url: 'https://app.example/ok', cancel_url: 'https://app.example/cancel',
  })
  await dashboard(h.local, `/checkout/sessions/${session.id}/complete`)
  await h.local.idle()
  let snap = await projectSnapshot(h.app, h.project.id)
  t.equal(snap.subscriptions.length, 1)
  t.match(snap.subscriptions[0], { end_user_id: 'user-1', status: 'active', quantity: 2, amount: 2000, currency: 'usd', interval: 'month' })
  t.equal(snap.transactions.length, 1, 'the invoice and its payment intent are one transaction')
  t.match(snap.transactions[0], { kind: 'invoice', status: 'succeeded', amount: 4000, end_user_id: 'user-1' })
  t.ok(snap.transactions[0]?.stripe_payment_intent_id, 'linked to its payment intent')
  t.match(snap.current, [{ active: 1, mrr: 4000 }])
  t.match(snap.daily, [{ gross: 4000, succeeded_count: 1, new_subscriptions: 1 }])

  const subId = String(snap.subscriptions[0]?.stripe_subscription_id)
  await dashboard(h.local, `/subscriptions/${subId}/renew`)
  await dashboard(h.local, `/subscriptions/${subId}/fail-payment`)
  await h.local.idle()
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.subscriptions[0], { status: 'past_due' })
  t.match(snap.current, [{ active: 0, past_due: 1, mrr: 4000 }])
  t.equal(snap.transactions.length, 3)
  t.same(snap.transactions.map((x) => x.status).sort(), ['failed', 'succeeded', 'succeeded'])

  await dashboard(h.local, `/subscriptions/${subId}/renew`)
  await h.local.idle()
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.subscriptions[0], { status: 'active' })
  t.same(snap.transactions.map((x) => x.status).sort(), ['succeeded', 'succeeded', 'succeeded'], 'the retried invoice succeeded on the same row')

  await h.stripe.subscriptions.cancel(subId)
  await h.local.idle()
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.subscriptions[0], { status: 'canceled' })
  t.match(snap.current, [{ active: 0, canceled: 1, mrr: 0 }])
  t.equal(snap.daily.reduce((n, d) => n + Number(d.canceled_subscriptions), 0), 1)
  t.equal(snap.daily.reduce((n, d) => n + Number(d.gross), 0), 12000)
  const statuses = await eventStatuses(h.app, h.project.id)
  t.ok(statuses.every((e) => e.status === 'processed' || e.status === 'ignored'), 'nothing failed')
  t.ok(statuses.some((e) => e.type === 'invoice.created' && e.status === 'ignored'), 'unhandled types are recorded as ignored')
})

t.test('a one-time checkout payment, then a partial and a full refund', async (t) => {
  const h = await webhookHarness(t)
  const price = await oneTimePrice(h.stripe, 1099)
  const metadata = { project_id: h.project.id, end_user_id: 'buyer-1', mode: 'test' }
  const session = await h.stripe.checkout.sessions.create({
    mode: 'payment', line_items: [{ price: price.id, quantity: 1 }], client_reference_id: 'buyer-1', metadata,
    payment_intent_data: { metadata }, success_url: 'https://app.example/ok', cancel_url: 'https://app.example/cancel',
  })
  await dashboard(h.local, `/checkout/sessions/${session.id}/complete`)
  await h.local.idle()
  let snap = await projectSnapshot(h.app, h.project.id)
  t.equal(snap.transactions.length, 1)
  t.match(snap.transactions[0], { kind: 'one_time', status: 'succeeded', amount: 1099, end_user_id: 'buyer-1', stripe_checkout_session_id: session.id })
  const pi = String(snap.transactions[0]?.stripe_payment_intent_id)
  await h.stripe.refunds.create({ payment_intent: pi, amount: 99 })
  await h.local.idle()
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.transactions[0], { status: 'partially_refunded', amount_refunded: 99 })
  await h.stripe.refunds.create({ payment_intent: pi })
  await h.local.idle()
  snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.transactions[0], { status: 'refunded', amount_refunded: 1099 })
  t.match(snap.daily, [{ gross: 1099, refunded: 1099, succeeded_count: 1 }])
  const done = await h.stripe.checkout.sessions.retrieve(session.id) as Stripe.Checkout.Session
  t.equal(done.status, 'complete')
})
