import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { isWriteConflict } from '../../src/platform/db/conflicts.ts'
import { paymentEffect } from '../../src/modules/payments/effects.ts'
import type { TransactionFacts } from '../../src/modules/payments/transaction-model.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import { planJobs, writePlans, type Job } from '../../src/webhooks/pipeline/apply.ts'
import { countRows, secondConnection } from '../helpers/app.ts'
import { eventStatuses, fakeEvent, postEvent, projectSnapshot, signed, webhookHarness, type Harness } from '../helpers/webhooks.ts'

const paymentIntent = (id: string, amount = 1500) => ({
  id, object: 'payment_intent', amount, amount_received: amount, currency: 'usd', metadata: {}, latest_charge: `ch_${id.slice(3)}`, customer: 'cus_guard', description: 'Credits',
})

const deliver = async (h: Harness, event: object): Promise<number> => {
  const body = JSON.stringify(event)
  return (await postEvent(h.app, h.project.id, body, signed(body, h.secret))).statusCode
}

/** The job the pipeline builds for an event: its record and a payment effect. */
const job = (h: Harness, id: string, facts: TransactionFacts): Job => {
  const created = Math.floor(Date.now() / 1000)
  return {
    record: { event: { projectId: h.project.id, mode: 'test', id, type: 'charge.refunded', created, payload: '{}' }, status: 'processed', force: false },
    effects: [paymentEffect({ project: { id: h.project.id, developerId: h.dev.id }, mode: 'test', event: { id, created } }, facts)],
  }
}

/** Reads and plans one job (the first statement); the caller writes it when it chooses. */
async function planned (h: Harness, j: Job) {
  const [plan] = await planJobs(h.app.db, [j], { slot: 0 })
  if (plan?.outcome !== 'write') throw new Error(`expected a plan to write, got ${plan?.outcome}`)
  return plan
}

const refund: TransactionFacts = {
  source: 'charge', keys: { paymentIntentId: 'pi_guard_changed' }, amount: 1500, currency: 'usd', status: 'succeeded', amountRefunded: 500, refundedAt: new Date(), createIfMissing: true,
}

t.test('a guarded write whose row changed after the read writes nothing, not even the event', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  t.equal(await deliver(h, fakeEvent('payment_intent.succeeded', paymentIntent('pi_guard_changed'))), 200)
  const plan = await planned(h, job(h, 'evt_guard_stale', refund))
  t.equal(plan.guards.length, 1, 'the plan guards the one row it read')

  // Another writer gets there between the read and the write.
  await h.app.db.execute(sql`update transactions set description = 'changed meanwhile' where project_id = ${h.project.id} and stripe_payment_intent_id = 'pi_guard_changed'`)
  const before = await projectSnapshot(h.app, h.project.id)
  const err = await writePlans(h.app.db, [plan]).then(() => null, (e: unknown) => e)
  t.ok(err && isWriteConflict(err), 'the guard saw the change')
  t.same(await projectSnapshot(h.app, h.project.id), before, 'row and stats untouched')
  t.notOk((await eventStatuses(h.app, h.project.id)).some((e) => e.id === 'evt_guard_stale'), 'the event is not recorded')

  // Read again: the same write now goes through.
  await writePlans(h.app.db, [await planned(h, job(h, 'evt_guard_stale', refund))])
  t.match((await projectSnapshot(h.app, h.project.id)).transactions, [{ status: 'partially_refunded', amount_refunded: 500, description: 'changed meanwhile' }])
  t.match(await eventStatuses(h.app, h.project.id), [{ type: 'payment_intent.succeeded' }, { id: 'evt_guard_stale', status: 'processed' }])
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
})

t.test('a new row whose id a concurrent insert took fails the whole statement, and nothing is recorded', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const plan = await planned(h, job(h, 'evt_guard_race', {
    source: 'payment_intent', keys: { paymentIntentId: 'pi_guard_race' }, amount: 700, currency: 'usd', status: 'succeeded', succeededAt: new Date(), createIfMissing: true,
  }))
  t.same(plan.guards, [], 'nothing read: a new row')
  t.equal(await deliver(h, fakeEvent('payment_intent.succeeded', paymentIntent('pi_guard_race', 700))), 200, 'another event inserts the row first')
  const before = await projectSnapshot(h.app, h.project.id)
  const err = await writePlans(h.app.db, [plan]).then(() => null, (e: unknown) => e)
  t.ok(err && isWriteConflict(err), 'a unique violation, which the pipeline retries')
  t.same(await projectSnapshot(h.app, h.project.id), before, 'nothing counted twice')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 1, 'the event is not recorded')
})

t.test('an insert still uncommitted when the guarded write starts makes it fail with a unique violation, which is retried', { skip: process.env.DATABASE_URL ? false : 'needs a second connection: PGlite has one' }, async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const other = await secondConnection(t)
  const plan = await planned(h, job(h, 'evt_guard_inflight', {
    source: 'payment_intent', keys: { paymentIntentId: 'pi_guard_inflight' }, amount: 900, currency: 'usd', status: 'succeeded', succeededAt: new Date(), createIfMissing: true,
  }))
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  let inserted = (): void => {}
  const insertedYet = new Promise<void>((resolve) => { inserted = resolve })
  const concurrent = other.db.transaction(async (tx) => {
    await tx.execute(sql`insert into transactions (developer_id, project_id, mode, kind, status, amount, currency, stripe_payment_intent_id)
      values (${h.dev.id}, ${h.project.id}, 'test', 'one_time', 'succeeded', 900, 'usd', 'pi_guard_inflight')`)
    inserted()
    await held
  })
  await insertedYet
  const write = writePlans(h.app.db, [plan]).then(() => null, (e: unknown) => e)
  await new Promise((resolve) => setTimeout(resolve, 200)) // the write now waits on the other transaction's index entry
  release()
  await concurrent
  const err = await write
  t.ok(err && isWriteConflict(err), 'a unique violation: the pipeline reads and plans again')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 1, 'one row, the other writer\'s')
  t.notOk((await eventStatuses(h.app, h.project.id)).some((e) => e.id === 'evt_guard_inflight'), 'the event is not recorded')
})

t.test('events for one payment delivered all at once, several times each, merge into one row counted once', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const now = Math.floor(Date.now() / 1000)
  const invoice = {
    id: 'in_guard_all', object: 'invoice', total: 4200, currency: 'usd', customer: 'cus_guard', description: 'Pro plan', status: 'paid',
    status_transitions: { paid_at: now - 50 }, parent: null, lines: { object: 'list', data: [] },
    payments: { object: 'list', data: [{ id: 'inpay_1', status: 'paid', is_default: true, payment: { type: 'payment_intent', payment_intent: 'pi_guard_all' } }] },
  }
  const charge = {
    id: 'ch_guard_all', object: 'charge', amount: 4200, amount_refunded: 1200, currency: 'usd', payment_intent: 'pi_guard_all', customer: 'cus_guard', description: null,
    created: now - 50, refunds: { object: 'list', data: [{ id: 're_1', created: now - 10 }] },
  }
  const events = [
    fakeEvent('invoice.paid', invoice, { created: now - 50 }),
    fakeEvent('payment_intent.succeeded', { ...paymentIntent('pi_guard_all', 4200), latest_charge: 'ch_guard_all' }, { created: now - 50 }),
    fakeEvent('charge.refunded', charge, { created: now - 10 }),
  ]
  const deliveries = events.flatMap((e) => [e, e, e])
  const statuses = await Promise.all(deliveries.map((e) => deliver(h, e)))
  t.same(statuses, deliveries.map(() => 200), 'every delivery answered 200')
  t.same((await eventStatuses(h.app, h.project.id)).map((e) => e.status), ['processed', 'processed', 'processed'], 'each event recorded once')
  const snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.transactions, [{ kind: 'invoice', status: 'partially_refunded', amount: 4200, amount_refunded: 1200, stripe_invoice_id: 'in_guard_all', stripe_payment_intent_id: 'pi_guard_all', stripe_charge_id: 'ch_guard_all' }])
  t.equal(snap.transactions.length, 1, 'one row for the invoice, its payment intent and its charge')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
  const [gross] = await queryRows<{ gross: number, refunded: number }>(h.app.db, sql`select sum(gross)::int as gross, sum(refunded)::int as refunded from stats_daily where project_id = ${h.project.id}`)
  t.same(gross, { gross: 4200, refunded: 1200 }, 'counted once')
})
