import t, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { balanceOf, createApiKey, creditsCall, ledgerOf, walletConsistency } from '../helpers/credits.ts'
import { connectWebhooks, endUserCall, localAction, openShop, startCheckout, subscribe, type Shop } from '../helpers/end-user.ts'

// End to end: the catalog through its routes, purchases and subscriptions through our checkout and the
// local Stripe server, its signed webhooks delivered to the app over HTTP, credits read and spent by API key.

async function creditShop (t: Test): Promise<Shop & { key: string }> {
  const shop = await openShop(t, { listen: true })
  await connectWebhooks(shop)
  return { ...shop, key: (await createApiKey(shop)).key }
}

async function put (shop: Shop, path: string, payload: Record<string, unknown>): Promise<void> {
  const res = await shop.app.inject({ method: 'PUT', url: `/api/v1/payments/stripe/projects/${shop.project.id}/${path}?test_mode=true`, headers: shop.dev.headers, payload })
  if (res.statusCode !== 200) throw new Error(`PUT ${path}: ${res.statusCode} ${res.body}`)
}

async function buy (shop: Shop, user: string, body: Record<string, unknown>): Promise<string> {
  const res = await startCheckout(shop, user, body)
  if (res.statusCode !== 201) throw new Error(`checkout: ${res.statusCode} ${res.body}`)
  const sessionId = res.json<{ session_id: string }>().session_id
  await localAction(shop.local, `/checkout/sessions/${sessionId}/complete`)
  await shop.local.idle()
  const session = await shop.stripe.checkout.sessions.retrieve(sessionId)
  return session.payment_intent as string
}

t.test('a package: bought once (two events name it), spent, half refunded after most was spent: clawback, then debt paid by the next purchase', async (t) => {
  const shop = await creditShop(t)
  await put(shop, `packages/${shop.oneTime.id}`, { credits: 1000, expires_in_days: 180 })
  const pi = await buy(shop, 'ann', { price_id: shop.oneTime.id, quantity: 2 })

  const types = await queryRows<{ type: string }>(shop.app.db, sql`select type from webhook_events where project_id = ${shop.project.id} and status = 'processed'`)
  t.ok(types.some((e) => e.type === 'checkout.session.completed') && types.some((e) => e.type === 'payment_intent.succeeded'), 'both events that name the purchase arrived')
  let b = await balanceOf(shop, shop.key, 'ann')
  t.equal(b.purchased, 2000, 'credits × quantity, granted once')
  t.equal(b.expiring.length, 1, 'the lot expires')
  t.ok(Math.abs(new Date(b.expiring[0]?.expires_at ?? 0).getTime() - Date.now() - 180 * 86_400_000) < 3_600_000, 'in 180 days')
  const mine = (await endUserCall(shop, 'ann', 'GET', 'my-credits')).json<{ purchased: number }>()
  t.equal(mine.purchased, 2000, 'the end user sees the same balance')

  t.equal((await creditsCall(shop, shop.key, 'POST', '/consume', { end_user_id: 'ann', amount: 1500 })).statusCode, 200)
  await shop.stripe.refunds.create({ payment_intent: pi, amount: 1099 })
  await shop.local.idle()
  b = await balanceOf(shop, shop.key, 'ann')
  // Half the money back takes half the credits (1000): 500 were left, 500 were spent and become debt.
  t.match(b, { purchased: 0, debt: 500, available: 0 })
  assertNoCredits(t, await creditsCall(shop, shop.key, 'POST', '/consume', { end_user_id: 'ann', amount: 1 }))

  await buy(shop, 'ann', { price_id: shop.oneTime.id, quantity: 1 })
  b = await balanceOf(shop, shop.key, 'ann')
  t.match(b, { purchased: 500, debt: 0, available: 500 }, 'the next grant paid the debt first')
  const kinds = (await ledgerOf(shop, shop.key, 'ann')).map((e) => [e.kind, e.amount])
  t.same(kinds, [['grant', 2000], ['consume', -1500], ['clawback', -500], ['debt', 500], ['grant', 1000], ['debt', -500]])
  t.same(await walletConsistency(shop, shop.project.id), [])

  // The developer's stats: what moved today and what is still owed, maintained with every entry.
  const stats = await shop.app.inject({ method: 'GET', url: `/api/v1/payments/stats?test_mode=true&project_id=${shop.project.id}`, headers: shop.dev.headers })
  t.equal(stats.statusCode, 200, stats.body.slice(0, 300))
  const view = stats.json<{ credits: { granted: number, consumed: number, expired: number, clawed_back: number, outstanding: number, daily: Array<{ date: string, credits_granted: number }> }, projects: Array<{ credits_outstanding: number }> }>()
  t.match(view.credits, { granted: 3000, consumed: 1500, expired: 0, clawed_back: 500, outstanding: 500 })
  t.equal(view.credits.daily.length, 30, 'every day of the range')
  t.equal(view.credits.daily.at(-1)?.credits_granted, 3000, 'today')
  t.equal(view.projects[0]?.credits_outstanding, 500)
})

function assertNoCredits (t: Test, res: { statusCode: number, json: <T>() => T }): void {
  t.equal(res.statusCode, 402)
  t.equal(res.json<{ code: string }>().code, 'insufficient_credits')
}

t.test('a top-up: the amount within the bounds buys amount × credits_per_unit; out of bounds is refused before Stripe', async (t) => {
  const shop = await creditShop(t)
  await put(shop, 'top-up', { currency: 'usd', credits_per_unit: 1, min_amount: 500, max_amount: 50000 })
  const low = await startCheckout(shop, 'bo', { top_up_amount: 499 })
  t.equal(low.statusCode, 400)
  t.equal(low.json<{ code: string }>().code, 'top_up_out_of_bounds')
  await buy(shop, 'bo', { top_up_amount: 1000 })
  t.equal((await balanceOf(shop, shop.key, 'bo')).purchased, 1000)
  const [tx] = (await endUserCall(shop, 'bo', 'GET', 'my-payments')).json<{ data: Array<{ amount: number, status: string }> }>().data
  t.match(tx, { amount: 1000, status: 'succeeded' }, 'the payment is recorded at the amount asked')

  // A retired package sells no more credits: its checkout is refused, what was granted stays.
  await put(shop, `packages/${shop.oneTime.id}`, { credits: 10 })
  const retired = await shop.app.inject({ method: 'DELETE', url: `/api/v1/payments/stripe/projects/${shop.project.id}/packages/${shop.oneTime.id}?test_mode=true`, headers: shop.dev.headers })
  t.equal(retired.statusCode, 200, retired.body)
  const refused = await startCheckout(shop, 'bo', { price_id: shop.oneTime.id })
  t.equal(refused.statusCode, 409)
  t.equal(refused.json<{ code: string }>().code, 'package_retired')
  t.equal((await balanceOf(shop, shop.key, 'bo')).purchased, 1000)
})

t.test('a plan: the paid invoice grants the period, a renewal resets it, a cancellation expires it; trial credits once', async (t) => {
  const shop = await creditShop(t)
  await put(shop, `plans/${shop.monthly.id}`, { credits_per_period: 100, trial_credits: 10 })
  const sub = await subscribe(shop, 'cy')
  await shop.local.idle()
  let b = await balanceOf(shop, shop.key, 'cy')
  t.equal(b.monthly, 100, 'the first paid invoice')
  t.ok(b.next_reset_at, 'next reset at the period end')
  t.equal((await creditsCall(shop, shop.key, 'POST', '/consume', { end_user_id: 'cy', amount: 30 })).statusCode, 200)

  await localAction(shop.local, `/subscriptions/${sub.id}/renew`)
  await shop.local.idle()
  b = await balanceOf(shop, shop.key, 'cy')
  t.equal(b.monthly, 100, 'the new period: the 70 left were reset, 100 granted')
  const entries = (await ledgerOf(shop, shop.key, 'cy')).map((e) => [e.kind, e.amount])
  t.same(entries, [['grant', 100], ['consume', -30], ['reset', -70], ['grant', 100]])

  await shop.stripe.subscriptions.cancel(sub.id)
  await shop.local.idle()
  t.equal((await balanceOf(shop, shop.key, 'cy')).monthly, 0, 'monthly credits end with the subscription')

  await subscribe(shop, 'dee', { trial_period_days: 7 })
  await shop.local.idle()
  b = await balanceOf(shop, shop.key, 'dee')
  t.equal(b.monthly, 10, 'trial credits, granted once across created and updated events')
  t.same(await walletConsistency(shop, shop.project.id), [])
})

t.test('a plan change: an upgrade grants the difference at once (once, with or without proration), a downgrade waits for the next paid invoice', async (t) => {
  const shop = await creditShop(t)
  await put(shop, `plans/${shop.monthly.id}`, { credits_per_period: 100 })
  await put(shop, `plans/${shop.monthlyPremium.id}`, { credits_per_period: 300 })
  const sub = await subscribe(shop, 'gil')
  await shop.local.idle()
  t.equal((await creditsCall(shop, shop.key, 'POST', '/consume', { end_user_id: 'gil', amount: 40 })).statusCode, 200)

  const change = async (priceId: string, proration: string) => {
    const res = await endUserCall(shop, 'gil', 'POST', 'update-subscription', { price_id: priceId, proration_behavior: proration })
    t.equal(res.statusCode, 200, `update-subscription to ${priceId}: ${res.body}`)
    await shop.local.idle()
  }
  // Billed at once: the proration invoice is paid, and grants nothing of its own (no reset of the period).
  await change(shop.monthlyPremium.id, 'always_invoice')
  let b = await balanceOf(shop, shop.key, 'gil')
  t.equal(b.monthly, 260, 'the 60 left, and the difference of 200 at once; nothing reset')
  const invoices = await queryRows<{ n: number }>(shop.app.db, sql`select count(*)::int as n from transactions where project_id = ${shop.project.id} and stripe_invoice_id is not null`)
  t.equal(invoices[0]?.n, 2, 'the proration invoice is recorded as a payment')

  // Down, then up again in the same period: the period already held the larger plan's credits.
  await change(shop.monthly.id, 'none')
  t.equal((await balanceOf(shop, shop.key, 'gil')).monthly, 260, 'a downgrade takes nothing back')
  await change(shop.monthlyPremium.id, 'none')
  t.equal((await balanceOf(shop, shop.key, 'gil')).monthly, 260, 'back up within the period: nothing more')
  await change(shop.monthly.id, 'create_prorations')

  // The next paid invoice is the smaller plan's: the period resets to 100.
  await localAction(shop.local, `/subscriptions/${sub.id}/renew`)
  await shop.local.idle()
  b = await balanceOf(shop, shop.key, 'gil')
  t.equal(b.monthly, 100, 'the downgrade applies at the next paid invoice')
  const entries = (await ledgerOf(shop, shop.key, 'gil')).map((e) => [e.kind, e.amount, e.description])
  t.same(entries, [['grant', 100, 'Pro'], ['consume', -40, null], ['grant', 200, 'Premium (plan change)'], ['reset', -60, 'new period'], ['reset', -200, 'new period'], ['grant', 100, 'Pro']])

  // Replayed events change nothing: every grant has one source.
  const events = await queryRows<{ id: string }>(shop.app.db, sql`select id from webhook_events where project_id = ${shop.project.id} and type in ('customer.subscription.updated', 'invoice.paid')`)
  for (const e of events) {
    const res = await shop.app.inject({ method: 'POST', url: `/api/v1/payments/stripe/projects/${shop.project.id}/events/${e.id}/replay?test_mode=true`, headers: shop.dev.headers })
    t.ok(res.statusCode < 300, `replay ${e.id}: ${res.statusCode}`)
  }
  t.equal((await balanceOf(shop, shop.key, 'gil')).monthly, 100, 'replays grant nothing twice')
  t.same(await walletConsistency(shop, shop.project.id), [])
})

t.test('credits:recompute --check finds no drift after real lifecycles, and finds (and without --check repairs) a wallet that disagrees with its ledger', async (t) => {
  const { recomputeCredits } = await import('../../src/jobs/credits-recompute.ts')
  const shop = await creditShop(t)
  await put(shop, `packages/${shop.oneTime.id}`, { credits: 300 })
  const pi = await buy(shop, 'eve', { price_id: shop.oneTime.id })
  await creditsCall(shop, shop.key, 'POST', '/consume', { end_user_id: 'eve', amount: 250 })
  await shop.stripe.refunds.create({ payment_intent: pi })
  await shop.local.idle()
  t.match(await balanceOf(shop, shop.key, 'eve'), { purchased: 0, debt: 250 })
  const clean = await recomputeCredits(shop.app.db, { check: true, projectId: shop.project.id })
  t.same(clean.drift, [], 'no drift')
  t.ok(clean.entries >= 4, `${clean.entries} entries checked`)

  await shop.app.db.execute(sql`update credit_wallets set purchased = purchased + 7 where project_id = ${shop.project.id} and end_user_id = 'eve'`)
  const found = await recomputeCredits(shop.app.db, { check: true, projectId: shop.project.id })
  const whats = found.drift.map((d) => d.what)
  t.ok(whats.includes('wallet balance') && whats.includes('open lots / held reservations'), 'the wallet disagrees with its ledger and its lots')
  t.ok(whats.some((w) => w.endsWith('credits outstanding')), 'and with the outstanding credits the stats hold')
  t.equal(found.rewritten, false)
  const repaired = await recomputeCredits(shop.app.db, { check: false, projectId: shop.project.id })
  t.equal(repaired.rewritten, true)
  t.same((await recomputeCredits(shop.app.db, { check: true, projectId: shop.project.id })).drift, [], 'the wallet follows its ledger again')
})
