import t from 'tap'
import { sql } from 'drizzle-orm'
import { assertProblem } from '../helpers/app.ts'
import { balanceOf, createApiKey, creditsCall, ledgerOf, walletConsistency } from '../helpers/credits.ts'
import { openShop } from '../helpers/end-user.ts'

t.test('an adjustment grants once per key; consume spends all or nothing, replays its first answer, refuses another body', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  const grant = await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u1', amount: 100, bucket: 'bonus', reason: 'welcome' }, 'grant-1')
  t.equal(grant.statusCode, 200, grant.body)
  const again = await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u1', amount: 100, bucket: 'bonus', reason: 'welcome' }, 'grant-1')
  t.equal(again.headers['idempotent-replayed'], 'true')
  t.equal((await balanceOf(shop, key, 'u1')).bonus, 100, 'granted once')

  const first = await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u1', amount: 30, description: 'a post' }, 'spend-1')
  t.equal(first.statusCode, 200, first.body)
  const body = first.json<{ id: string, amount: number, balance: { available: number } }>()
  t.equal(body.amount, 30)
  t.equal(body.balance.available, 70)
  t.notOk(first.headers['idempotent-replayed'])
  const replay = await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u1', amount: 30, description: 'a post' }, 'spend-1')
  t.equal(replay.statusCode, 200)
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.equal(replay.json<{ id: string }>().id, body.id, 'the first answer again')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u1', amount: 31 }, 'spend-1'), 409, 'idempotency_key_reused')

  const short = await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u1', amount: 71 }, 'spend-2')
  assertProblem(t, short, 402, 'insufficient_credits')
  t.equal(short.json<{ balance: { available: number } }>().balance.available, 70, 'the problem carries the balance')
  // 402 is not remembered: after more credits, the same key spends.
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u1', amount: 1, bucket: 'purchased', reason: 'top' }, 'grant-2')
  t.equal((await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u1', amount: 71 }, 'spend-2')).statusCode, 200)
  t.equal((await balanceOf(shop, key, 'u1')).total, 0)

  const ledger = await ledgerOf(shop, key, 'u1')
  t.same(ledger.map((e) => e.seq), ledger.map((_, i) => i + 1), 'seq is gapless')
  t.same(ledger.map((e) => [e.kind, e.bucket, e.amount, e.balance_after.total]), [
    ['adjustment', 'bonus', 100, 100], ['consume', 'bonus', -30, 70], ['adjustment', 'purchased', 1, 71], ['consume', 'bonus', -70, 1], ['consume', 'purchased', -1, 0],
  ])
  t.same(await walletConsistency(shop, shop.project.id), [], 'wallets equal their ledgers and lots')
})

t.test('spending order: monthly first, then bonus and purchased by soonest expiry, never-expiring last', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  const p = shop.project.id
  // Grants as the ledger engine makes them from events (an invoice, two purchases), then one spend across them.
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u2', 'purchased', 'grant', 10, 'transaction:a', null, null, 100, false, null, 'never expires')`)
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u2', 'purchased', 'grant', 10, 'transaction:b', now() + interval '30 days', null, 100, false, null, 'late')`)
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u2', 'bonus', 'grant', 10, 'referral:x', now() + interval '5 days', null, null, false, null, 'soon')`)
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u2', 'monthly', 'grant', 10, 'invoice:in_x', null, now(), 100, true, now() + interval '1 month', 'plan')`)
  const res = await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u2', amount: 35 })
  t.equal(res.statusCode, 200, res.body)
  const spent = (await ledgerOf(shop, key, 'u2')).filter((e) => e.kind === 'consume').map((e) => [e.bucket, e.amount])
  t.same(spent, [['monthly', -10], ['bonus', -10], ['purchased', -10], ['purchased', -5]])
  const b = await balanceOf(shop, key, 'u2')
  t.equal(b.purchased, 5, 'what is left is the never-expiring lot')
  t.same(b.expiring, [])
  t.ok(b.next_reset_at, 'the plan period end is the next reset')
})

t.test('expiry: a lot past its expiry is closed by one expire entry before a spend, and by the sweep', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  const p = shop.project.id
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u3', 'purchased', 'grant', 50, 'transaction:old', now() + interval '1 second', null, 100, false, null, 'short')`)
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u3', 'purchased', 'grant', 5, 'transaction:new', null, null, 100, false, null, 'kept')`)
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal((await balanceOf(shop, key, 'u3')).available, 5, 'a read leaves out what is due to expire')
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u3', amount: 6 }), 402, 'insufficient_credits')
  const ledger = await ledgerOf(shop, key, 'u3')
  t.same(ledger.map((e) => [e.kind, e.amount]), [['grant', 50], ['grant', 5], ['expire', -50]], 'expired once, before the spend was judged')

  // A wallet nobody touches is closed by the sweep (what every instance runs each minute).
  const { sweep } = await import('../../src/modules/credits/repository.ts')
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'u3b', 'bonus', 'grant', 7, 'referral:short', now() + interval '1 second', null, null, false, null, 'short')`)
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.ok(await sweep(shop.app.db, 100) >= 1, 'the sweep settled a wallet')
  t.same((await ledgerOf(shop, key, 'u3b')).map((e) => [e.kind, e.amount]), [['grant', 7], ['expire', -7]])
  t.equal(await sweep(shop.app.db, 100), 0, 'and nothing is left for the next one')
  t.same(await walletConsistency(shop, p), [])
})

t.test('reservations: commit spends at most the reserved amount, release gives it back, a TTL releases by itself', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u4', amount: 100, bucket: 'purchased', reason: 'seed' })
  const r1 = await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u4', amount: 40 })
  t.equal(r1.statusCode, 201, r1.body)
  const reservation = r1.json<{ id: string, balance: { available: number, reserved: number } }>()
  t.equal(reservation.balance.available, 60)
  t.equal(reservation.balance.reserved, 40)
  assertProblem(t, await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u4', amount: 61 }), 402, 'insufficient_credits')
  assertProblem(t, await creditsCall(shop, key, 'POST', `/reservations/${reservation.id}/commit`, { amount: 41 }), 422, 'amount_exceeds_reservation')
  const committed = await creditsCall(shop, key, 'POST', `/reservations/${reservation.id}/commit`, { amount: 25 })
  t.equal(committed.statusCode, 200, committed.body)
  t.match(committed.json(), { committed: 25, status: 'committed', balance: { total: 75, reserved: 0, available: 75 } })
  assertProblem(t, await creditsCall(shop, key, 'POST', `/reservations/${reservation.id}/release`), 409, 'reservation_settled')

  const r2 = (await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u4', amount: 10 })).json<{ id: string }>()
  const released = await creditsCall(shop, key, 'POST', `/reservations/${r2.id}/release`)
  t.match(released.json(), { committed: 0, status: 'released', balance: { total: 75, available: 75 } })

  const r3 = (await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u4', amount: 10, ttl_seconds: 1 })).json<{ id: string }>()
  await new Promise((resolve) => setTimeout(resolve, 1200))
  t.equal((await balanceOf(shop, key, 'u4')).available, 75, 'past its TTL it holds nothing')
  assertProblem(t, await creditsCall(shop, key, 'POST', `/reservations/${r3.id}/commit`), 409, 'reservation_expired')
  const other = await createApiKey(shop, 'live')
  assertProblem(t, await creditsCall(shop, other.key, 'POST', `/reservations/${r2.id}/release`), 404, 'not_found')
  t.same(await walletConsistency(shop, shop.project.id), [])
})

t.test('a commit whose reserved credits were taken meanwhile spends what is left and records the rest as debt', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u5', amount: 100, bucket: 'bonus', reason: 'seed' })
  const reservation = (await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u5', amount: 80 })).json<{ id: string }>()
  // A negative adjustment (like a refund's take-back or an expiry) takes from the lots, whatever is reserved.
  t.equal((await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u5', amount: -90, bucket: 'bonus', reason: 'taken' })).statusCode, 200)
  const committed = await creditsCall(shop, key, 'POST', `/reservations/${reservation.id}/commit`)
  t.equal(committed.statusCode, 200, committed.body)
  t.match(committed.json(), { committed: 80, status: 'committed', balance: { total: 0, reserved: 0, debt: 70, available: 0 } })
  t.same((await ledgerOf(shop, key, 'u5')).slice(-3).map((e) => [e.kind, e.bucket, e.amount, e.balance_after.debt]), [
    ['release', null, -80, 0], ['consume', 'bonus', -10, 0], ['debt', null, 70, 70],
  ], 'the 10 left are spent, the 70 taken meanwhile owed')
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u5', amount: 100, bucket: 'purchased', reason: 'top up' })
  t.match(await balanceOf(shop, key, 'u5'), { purchased: 30, debt: 0, available: 30 }, 'the next grant pays the debt first')
  t.same(await walletConsistency(shop, shop.project.id), [])
})

t.test('a purchase granted after its expiry is closed at once: it pays no debt, and a refund that came first takes what a later one would', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  const p = shop.project.id
  const grantLate = (user: string, source: string, pi: string) => shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', ${user}, 'purchased', 'grant', 50, ${source},
    now() - interval '1 day', null, 100, false, null, 'delivered late', ${pi})`)
  const refund = (pi: string) => shop.app.db.execute(sql`select credits_refund(${p}::uuid, 'test', ${pi}, 100, 100, 'refund')`)
  for (const user of ['late-first', 'late-after']) {
    await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: user, amount: 30, bucket: 'bonus', reason: 'seed' })
  }
  // The refund before the grant (kept until the grant), and after it: the same entries either way.
  await refund('pi_late_first')
  await grantLate('late-first', 'transaction:late-first', 'pi_late_first')
  await grantLate('late-after', 'transaction:late-after', 'pi_late_after')
  await refund('pi_late_after')
  for (const user of ['late-first', 'late-after']) {
    t.same((await ledgerOf(shop, key, user)).map((e) => [e.kind, e.bucket, e.amount]), [
      ['adjustment', 'bonus', 30], ['grant', 'purchased', 50], ['expire', 'purchased', -50], ['clawback', 'bonus', -30], ['debt', null, 20],
    ], `${user}: expired at once, the refund taken from the other lot and the rest owed`)
  }
  // Credits that expired before they were granted pay no debt; credits that are valid do.
  await grantLate('late-first', 'transaction:late-again', 'pi_late_again')
  t.match(await balanceOf(shop, key, 'late-first'), { total: 0, debt: 20 })
  await shop.app.db.execute(sql`select credits_grant(${p}::uuid, 'test', 'late-first', 'purchased', 'grant', 50, 'transaction:valid', null, null, 100, false, null, 'valid', 'pi_valid')`)
  t.match(await balanceOf(shop, key, 'late-first'), { purchased: 30, debt: 0, available: 30 })
  t.same(await walletConsistency(shop, p), [])
})

t.test('a commit of more than the reservation (422) keeps what it closed first: the wallet stays its ledger', async (t) => {
  const shop = await openShop(t)
  const { key } = await createApiKey(shop)
  await creditsCall(shop, key, 'POST', '/adjustments', { end_user_id: 'u6', amount: 100, bucket: 'bonus', reason: 'seed' })
  const held = (await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u6', amount: 30 })).json<{ id: string }>()
  await creditsCall(shop, key, 'POST', '/reservations', { end_user_id: 'u6', amount: 20, ttl_seconds: 1 })
  await new Promise((resolve) => setTimeout(resolve, 1200))
  // The short reservation is released (by one entry) before the commit is judged too large.
  assertProblem(t, await creditsCall(shop, key, 'POST', `/reservations/${held.id}/commit`, { amount: 31 }), 422, 'amount_exceeds_reservation')
  t.same(await walletConsistency(shop, shop.project.id), [], 'the wallet equals its last entry')
  t.same((await ledgerOf(shop, key, 'u6')).map((e) => [e.seq, e.kind, e.amount]), [[1, 'adjustment', 100], [2, 'reserve', 30], [3, 'reserve', 20], [4, 'release', -20]])
  const spent = await creditsCall(shop, key, 'POST', '/consume', { end_user_id: 'u6', amount: 70 })
  t.equal(spent.statusCode, 200, spent.body)
  t.match(spent.json(), { balance: { total: 30, reserved: 30, available: 0 } })
})
