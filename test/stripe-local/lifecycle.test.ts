import t, { type Test } from 'tap'
import type Stripe from 'stripe'
import { dashboard, monthlyPrice, oneTimePrice, receiver, setup, subscriptionCheckout, webhook } from './helpers.ts'

t.test('subscription checkout complete: Stripe\'s events, in order, each signed', async t => {
  const { stripe, local } = await setup(t)
  const hook = await receiver(t)
  const secret = await webhook(stripe, hook.url)
  const price = await monthlyPrice(stripe)
  const session = await subscriptionCheckout(stripe, price, {
    client_reference_id: 'user_7', metadata: { plan: 'pro' }, subscription_data: { metadata: { tenant: 't1' } },
  })
  await local.idle()
  t.same(hook.types(), ['product.created', 'price.created'])
  hook.received.length = 0
  const done = await dashboard<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
  t.equal(done.status, 'complete')
  await local.idle()
  t.same(hook.types(), [
    'customer.created', 'customer.subscription.created', 'invoice.created', 'invoice.finalized',
    'payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'invoice.paid',
    'invoice.payment_succeeded', 'checkout.session.completed',
  ])
  for (const r of hook.received) {
    const event = stripe.webhooks.constructEvent(r.body, r.headers['stripe-signature'] as string, secret)
    t.equal(event.id, r.event.id)
  }
  const completed = hook.received.at(-1)?.event.data.object as Stripe.Checkout.Session
  t.equal(completed.client_reference_id, 'user_7')
  t.same(completed.metadata, { plan: 'pro' })
  t.equal(completed.payment_status, 'paid')
  t.equal(completed.url, null)
  const sub = await stripe.subscriptions.retrieve(completed.subscription as string, { expand: ['latest_invoice', 'customer'] })
  t.equal(sub.status, 'active')
  t.same(sub.metadata, { tenant: 't1' }, 'subscription_data.metadata lands on the subscription')
  t.equal((sub.customer as Stripe.Customer).id, completed.customer)
  const invoice = sub.latest_invoice as Stripe.Invoice
  t.equal(invoice.id, completed.invoice)
  t.equal(invoice.amount_paid, 2000)
  t.equal(invoice.billing_reason, 'subscription_create')
  t.equal(invoice.parent?.subscription_details?.subscription, sub.id)
  t.equal(hook.received[0]?.headers['content-type'], 'application/json; charset=utf-8')
  t.match(hook.received[0]?.headers['stripe-signature'], /^t=\d+,v1=[0-9a-f]{64}$/)
  t.match(hook.received.find(r => r.event.type === 'checkout.session.completed')?.event.request, { id: null, idempotency_key: null })
})

t.test('payment checkout complete: payment intent with payment_intent_data metadata, no subscription', async t => {
  const { stripe, local } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url, ['checkout.session.completed', 'payment_intent.succeeded', 'charge.succeeded', 'payment_intent.created', 'customer.created'])
  const price = await oneTimePrice(stripe, 1099)
  const customer = await stripe.customers.create({ email: 'buyer@example.com' })
  const session = await stripe.checkout.sessions.create({
    mode: 'payment', customer: customer.id, line_items: [{ price: price.id, quantity: 1 }],
    metadata: { pack: 'small' }, payment_intent_data: { metadata: { credits: '1099' } },
  })
  await dashboard(local, `/checkout/sessions/${session.id}/complete`, { payment_method: 'pm_card_visa' })
  await local.idle()
  t.same(hook.types(), ['customer.created', 'payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'checkout.session.completed'])
  const done = await stripe.checkout.sessions.retrieve(session.id, { expand: ['payment_intent'] })
  t.equal(done.status, 'complete')
  t.equal(done.subscription, null)
  const pi = done.payment_intent as Stripe.PaymentIntent
  t.equal(pi.status, 'succeeded')
  t.equal(pi.amount, 1099)
  t.same(pi.metadata, { credits: '1099' })
  t.equal(pi.customer, customer.id)
  t.same(done.metadata, { pack: 'small' })
})

t.test('a declined card fails the attempt and leaves the session open', async t => {
  const { stripe, local } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url, ['payment_intent.payment_failed', 'charge.failed', 'checkout.session.completed'])
  const price = await oneTimePrice(stripe)
  const session = await stripe.checkout.sessions.create({ mode: 'payment', line_items: [{ price: price.id, quantity: 1 }] })
  const failed = await dashboard<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`, { payment_method: 'pm_card_chargeDeclined' })
  t.equal(failed.status, 'open')
  await dashboard(local, `/checkout/sessions/${session.id}/fail`)
  await local.idle()
  t.same(hook.types(), ['charge.failed', 'payment_intent.payment_failed', 'charge.failed', 'payment_intent.payment_failed'])
  const pi = hook.received[1]?.event.data.object as Stripe.PaymentIntent
  t.match(pi.last_payment_error, { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline' })
  const paid = await dashboard<Stripe.Checkout.Session>(local, `/checkout/sessions/${session.id}/complete`)
  t.equal(paid.status, 'complete')
  t.equal(paid.payment_intent, pi.id, 'the retry reuses the session\'s payment intent')
})

t.test('expire: checkout.session.expired, and an expired session cannot be paid', async t => {
  const { stripe, local } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url, ['checkout.session.expired'])
  const session = await subscriptionCheckout(stripe, await monthlyPrice(stripe))
  const expired = await stripe.checkout.sessions.expire(session.id, {}, { idempotencyKey: 'expire-1' })
  t.equal(expired.status, 'expired')
  t.equal(expired.url, null)
  await local.idle()
  t.same(hook.types(), ['checkout.session.expired'])
  t.match(hook.received[0]?.event.request, { id: /^req_/, idempotency_key: 'expire-1' })
  await t.rejects(stripe.checkout.sessions.expire(session.id), { statusCode: 400, message: /status of "expired"/ })
  await t.rejects(dashboard(local, `/checkout/sessions/${session.id}/complete`), /400/)
})

async function subscribed (t: Test, opts: { trial?: number } = {}) {
  const env = await setup(t)
  const hook = await receiver(t)
  const secret = await webhook(env.stripe, hook.url)
  const price = await monthlyPrice(env.stripe)
  const session = await subscriptionCheckout(env.stripe, price, opts.trial ? { subscription_data: { trial_period_days: opts.trial } } : {})
  const done = await dashboard<Stripe.Checkout.Session>(env.local, `/checkout/sessions/${session.id}/complete`)
  await env.local.idle()
  hook.received.length = 0
  return { ...env, hook, secret, price, subscriptionId: done.subscription as string }
}

t.test('renew: next period and a new paid invoice', async t => {
  const { stripe, local, hook, subscriptionId } = await subscribed(t)
  const before = await stripe.subscriptions.retrieve(subscriptionId)
  const renewed = await dashboard<Stripe.Subscription>(local, `/subscriptions/${subscriptionId}/renew`)
  await local.idle()
  t.same(hook.types(), ['customer.subscription.updated', 'invoice.created', 'invoice.finalized', 'payment_intent.created',
    'charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded'])
  t.equal(renewed.items.data[0]?.current_period_start, before.items.data[0]?.current_period_end)
  t.not(renewed.latest_invoice, before.latest_invoice)
  const updated = hook.received[0]?.event as Stripe.CustomerSubscriptionUpdatedEvent
  t.match(updated.data.previous_attributes, { latest_invoice: before.latest_invoice, items: { data: [{ current_period_end: before.items.data[0]?.current_period_end }] } })
  const invoice = await stripe.invoices.retrieve(renewed.latest_invoice as string)
  t.equal(invoice.billing_reason, 'subscription_cycle')
  t.equal(invoice.status, 'paid')
})

t.test('fail-payment: invoice.payment_failed and the subscription goes past_due', async t => {
  const { stripe, local, hook, subscriptionId } = await subscribed(t)
  await dashboard(local, `/subscriptions/${subscriptionId}/fail-payment`)
  await local.idle()
  t.same(hook.types(), ['customer.subscription.updated', 'invoice.created', 'invoice.finalized', 'payment_intent.created',
    'charge.failed', 'payment_intent.payment_failed', 'invoice.payment_failed', 'customer.subscription.updated'])
  const failed = hook.received[6]?.event.data.object as Stripe.Invoice
  t.match(failed, { status: 'open', attempt_count: 1, amount_remaining: 2000 })
  t.ok(failed.next_payment_attempt)
  const last = hook.received[7]?.event as Stripe.CustomerSubscriptionUpdatedEvent
  t.equal(last.data.object.status, 'past_due')
  t.same(last.data.previous_attributes, { status: 'active' })
  t.equal((await stripe.customers.retrieve(last.data.object.customer as string) as Stripe.Customer).delinquent, true)
  hook.received.length = 0
  const recovered = await dashboard<Stripe.Subscription>(local, `/subscriptions/${subscriptionId}/renew`)
  await local.idle()
  t.equal(recovered.status, 'active', 'renew on a past_due subscription pays the open invoice')
  t.same(hook.types(), ['charge.succeeded', 'payment_intent.succeeded', 'invoice.paid', 'invoice.payment_succeeded', 'customer.subscription.updated'])
})

t.test('trial: trialing with a $0 paid invoice, then active at renewal', async t => {
  const { stripe, local, hook, subscriptionId } = await subscribed(t, { trial: 14 })
  const sub = await stripe.subscriptions.retrieve(subscriptionId, { expand: ['latest_invoice'] })
  t.equal(sub.status, 'trialing')
  t.equal(sub.trial_end, (sub.trial_start ?? 0) + 14 * 86_400)
  t.match(sub.latest_invoice, { amount_paid: 0, status: 'paid' })
  const after = await dashboard<Stripe.Subscription>(local, `/subscriptions/${subscriptionId}/renew`)
  await local.idle()
  t.equal(after.status, 'active')
  t.match(hook.received[0]?.event.data, { previous_attributes: { status: 'trialing' } })
})

t.test('update items swaps the price; always_invoice bills the difference', async t => {
  const { stripe, local, hook, subscriptionId } = await subscribed(t)
  const sub = await stripe.subscriptions.retrieve(subscriptionId)
  const bigger = await monthlyPrice(stripe, 5000)
  await local.idle()
  hook.received.length = 0
  const updated = await stripe.subscriptions.update(subscriptionId, {
    items: [{ id: sub.items.data[0]?.id ?? '', price: bigger.id }], proration_behavior: 'always_invoice', expand: ['latest_invoice'],
  })
  t.equal(updated.items.data[0]?.price.id, bigger.id)
  t.equal(updated.items.data[0]?.id, sub.items.data[0]?.id)
  t.match(updated.latest_invoice, { billing_reason: 'subscription_update', amount_paid: 3000, status: 'paid' })
  await local.idle()
  t.equal(hook.types()[0], 'customer.subscription.updated')
  t.ok(hook.types().includes('invoice.paid'))
  const first = hook.received[0]?.event as Stripe.CustomerSubscriptionUpdatedEvent
  t.match(first.data.previous_attributes, { items: { data: [{ price: { id: sub.items.data[0]?.price.id } }] } })
  hook.received.length = 0
  await stripe.subscriptions.update(subscriptionId, { items: [{ id: sub.items.data[0]?.id ?? '', price: sub.items.data[0]?.price.id ?? '' }], proration_behavior: 'none' })
  await local.idle()
  t.same(hook.types(), ['customer.subscription.updated'], 'a downgrade without proration bills nothing')
})

t.test('cancel_at_period_end true/false, then the clock ends the subscription', async t => {
  const { stripe, local, account, hook, subscriptionId } = await subscribed(t)
  const scheduled = await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true })
  t.equal(scheduled.cancel_at_period_end, true)
  t.equal(scheduled.cancel_at, scheduled.items.data[0]?.current_period_end)
  t.equal(scheduled.cancellation_details?.reason, 'cancellation_requested')
  await local.idle()
  const event = hook.received[0]?.event as Stripe.CustomerSubscriptionUpdatedEvent
  t.same(event.data.previous_attributes, { cancel_at: null, cancel_at_period_end: false, canceled_at: null, cancellation_details: { reason: null } })
  t.match(event.request, { id: /^req_/, idempotency_key: /^stripe-node-retry-/ })
  const resumed = await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: false })
  t.equal(resumed.cancel_at, null)
  await stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true })
  await local.idle()
  hook.received.length = 0
  await dashboard(local, `/accounts/${account.account_id}/advance-clock`, { seconds: 32 * 86_400 })
  await local.idle()
  t.same(hook.types(), ['customer.subscription.deleted'])
  const ended = await stripe.subscriptions.retrieve(subscriptionId)
  t.equal(ended.status, 'canceled')
  t.ok(ended.ended_at)
})

t.test('the clock renews active subscriptions at period end', async t => {
  const { stripe, local, account, hook, subscriptionId } = await subscribed(t)
  await dashboard(local, `/accounts/${account.account_id}/advance-clock`, { seconds: 31 * 86_400 + 60 })
  await local.idle()
  t.ok(hook.types().includes('invoice.paid'))
  const invoices = await stripe.invoices.list({ subscription: subscriptionId })
  t.equal(invoices.data.length, 2)
})

t.test('DELETE cancels now with customer.subscription.deleted', async t => {
  const { stripe, local, hook, subscriptionId } = await subscribed(t)
  const canceled = await stripe.subscriptions.cancel(subscriptionId)
  t.equal(canceled.status, 'canceled')
  t.ok(canceled.canceled_at)
  t.ok(canceled.ended_at)
  await local.idle()
  t.same(hook.types(), ['customer.subscription.deleted'])
  t.equal((await stripe.subscriptions.list()).data.length, 0, 'canceled subscriptions are not listed by default')
  t.equal((await stripe.subscriptions.list({ status: 'canceled' })).data.length, 1)
  await t.rejects(stripe.subscriptions.update(subscriptionId, { cancel_at_period_end: true }), { statusCode: 400, message: /canceled subscription/ })
})

t.test('refunds emit charge.refunded with previous_attributes, then refund.created', async t => {
  const { stripe, local } = await setup(t)
  const hook = await receiver(t)
  await webhook(stripe, hook.url, ['charge.refunded', 'refund.created'])
  const pi = await stripe.paymentIntents.create({ amount: 1099, currency: 'usd', confirm: true, payment_method: 'pm_card_visa' })
  await stripe.refunds.create({ payment_intent: pi.id, amount: 99 })
  await stripe.refunds.create({ payment_intent: pi.id })
  await local.idle()
  t.same(hook.types(), ['charge.refunded', 'refund.created', 'charge.refunded', 'refund.created'])
  const first = hook.received[0]?.event as Stripe.ChargeRefundedEvent
  t.same(first.data.previous_attributes, { amount_refunded: 0 })
  t.equal(first.data.object.amount_refunded, 99)
  const second = hook.received[2]?.event as Stripe.ChargeRefundedEvent
  t.same(second.data.previous_attributes, { amount_refunded: 99, refunded: false })
  t.equal(second.data.object.refunded, true)
  t.equal((await stripe.balance.retrieve()).available[0]?.amount, 0)
})
