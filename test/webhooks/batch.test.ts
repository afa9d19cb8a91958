import { randomBytes } from 'node:crypto'
import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { isWriteConflict } from '../../src/platform/db/conflicts.ts'
import { paymentEffect } from '../../src/modules/payments/effects.ts'
import type { EventRecord } from '../../src/webhooks/repository.ts'
import { recomputeStats } from '../../src/jobs/stats-recompute.ts'
import type { TransactionFacts } from '../../src/modules/payments/transaction-model.ts'
import { applyJob, planJobs, writePlans, type Job, type JobPlan } from '../../src/webhooks/pipeline/apply.ts'
import { WebhookBatcher } from '../../src/webhooks/pipeline/batcher.ts'
import { countRows } from '../helpers/app.ts'
import { eventStatuses, fakeEvent, postEvent, projectSnapshot, refuseTransactionsOf, signed, webhookHarness, type Harness } from '../helpers/webhooks.ts'

const paymentIntent = (id: string, amount = 1500) => ({
  id, object: 'payment_intent', amount, amount_received: amount, currency: 'usd', metadata: {}, latest_charge: `ch_${id.slice(3)}`, customer: 'cus_batch', description: 'Credits',
})

const deliver = async (h: Harness, event: object) => {
  const body = JSON.stringify(event)
  return postEvent(h.app, h.project.id, body, signed(body, h.secret))
}

const record = (h: Harness, id: string, type = 'payment_intent.succeeded'): EventRecord =>
  ({ projectId: h.project.id, mode: 'test', id, type, created: Math.floor(Date.now() / 1000), payload: '{}' })

const succeeded = (pi: string, amount: number): TransactionFacts => ({
  source: 'payment_intent', keys: { paymentIntentId: pi }, amount, currency: 'usd', status: 'succeeded', succeededAt: new Date(), createIfMissing: true,
})

/** An event's job as the pipeline builds it: its record and a payment effect. */
const job = (h: Harness, id: string, facts: TransactionFacts | null, type = 'payment_intent.succeeded'): Job => {
  const scope = { project: { id: h.project.id, developerId: h.dev.id }, mode: 'test' as const, event: { id, created: Math.floor(Date.now() / 1000) } }
  return { record: { event: record(h, id, type), status: 'processed', force: false }, effects: facts ? [paymentEffect(scope, facts)] : [] }
}

const writable = (plans: JobPlan[]) => plans.map((p) => {
  if (p.outcome !== 'write') throw new Error(`expected a plan to write, got ${p.outcome}`)
  return p
})

t.test('a burst of events is applied in batches: each recorded once, counted once, stats equal to a recompute', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const events = Array.from({ length: 60 }, (_, i) => fakeEvent('payment_intent.succeeded', paymentIntent(`pi_burst_${i}`, 100 + i)))
  // Every event twice, all at once: duplicates in the same burst must not count twice either.
  const results = await Promise.all([...events, ...events].map((e) => deliver(h, e)))
  t.same(results.map((r) => r.statusCode), results.map(() => 200), 'every delivery answered 200')
  t.equal(results.filter((r) => r.json().duplicate === true).length, events.length, 'one of each pair applied, the other a duplicate')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 60)
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 60)
  const [sum] = await queryRows<{ gross: number, n: number }>(h.app.db, sql`select sum(gross)::int as gross, sum(succeeded_count)::int as n from stats_daily where project_id = ${h.project.id}`)
  t.same(sum, { gross: events.reduce((s, _, i) => s + 100 + i, 0), n: 60 })
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
})

t.test('the batcher puts events for different payments together and events for the same payment apart', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const batcher = new WebhookBatcher(h.app.db, { concurrency: 1, maxBatch: 100, slots: 8 })
  // Three events for one payment (success, then refunds: amount_refunded only grows) and ten for other payments.
  const same = [
    job(h, 'evt_same_1', succeeded('pi_same', 1000)),
    job(h, 'evt_same_2', { source: 'charge', keys: { paymentIntentId: 'pi_same', chargeId: 'ch_same' }, amount: 1000, currency: 'usd', status: 'succeeded', amountRefunded: 300, refundedAt: new Date(), createIfMissing: true }),
    job(h, 'evt_same_3', { source: 'charge', keys: { paymentIntentId: 'pi_same', chargeId: 'ch_same' }, amount: 1000, currency: 'usd', status: 'succeeded', amountRefunded: 1000, refundedAt: new Date(), createIfMissing: true }),
  ]
  const others = Array.from({ length: 10 }, (_, i) => job(h, `evt_other_${i}`, succeeded(`pi_other_${i}`, 50)))
  const outcomes = await Promise.all([...same, ...others].map((j) => batcher.apply(j)))
  t.same(outcomes, outcomes.map(() => 'processed'))
  t.equal(batcher.counters.events, 13)
  t.ok(batcher.counters.batches >= 3, `the three events for one payment went in three batches (${batcher.counters.batches} in all)`)
  t.ok(batcher.counters.batches <= 5, `the other payments shared batches (${batcher.counters.batches} batches for 13 events)`)
  const snap = await projectSnapshot(h.app, h.project.id)
  t.match(snap.transactions.find((r) => r.stripe_payment_intent_id === 'pi_same'), { status: 'refunded', amount: 1000, amount_refunded: 1000, stripe_charge_id: 'ch_same' })
  t.equal(snap.transactions.length, 11, 'one row per payment')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
  t.same(await Promise.all([batcher.apply(same[0] as Job)]), ['duplicate'], 'a recorded event is a duplicate')
})

t.test('a batched write whose row changed after the read writes nothing, not even the events, and says it conflicted', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  t.equal((await deliver(h, fakeEvent('payment_intent.succeeded', paymentIntent('pi_batch_stale')))).statusCode, 200)
  const refund: TransactionFacts = { source: 'charge', keys: { paymentIntentId: 'pi_batch_stale' }, amount: 1500, currency: 'usd', status: 'succeeded', amountRefunded: 500, refundedAt: new Date(), createIfMissing: true }
  const plans = writable(await planJobs(h.app.db, [job(h, 'evt_batch_stale', refund, 'charge.refunded'), job(h, 'evt_batch_new', succeeded('pi_batch_new', 700))], { slot: 3 }))
  t.same(plans.map((p) => p.guards.length), [1, 0], 'the refund guards the row it read; the new payment has none')
  await h.app.db.execute(sql`update transactions set description = 'changed meanwhile' where project_id = ${h.project.id} and stripe_payment_intent_id = 'pi_batch_stale'`)
  const before = await projectSnapshot(h.app, h.project.id)
  const err = await writePlans(h.app.db, plans).then(() => null, (e: unknown) => e)
  t.ok(err && isWriteConflict(err), 'serialization_failure: the batcher reads again')
  t.same(await projectSnapshot(h.app, h.project.id), before, 'no row and no stats changed, also for the other event')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 1, 'neither event recorded')
})

t.test('a batched write whose event another delivery recorded meanwhile writes nothing', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const plans = writable(await planJobs(h.app.db, [job(h, 'evt_batch_dup', succeeded('pi_batch_dup', 900))], { slot: 0 }))
  t.equal(await applyJob(h.app.db, job(h, 'evt_batch_dup', null), { slot: 0 }), 'processed', 'another instance records the event first')
  const err = await writePlans(h.app.db, plans).then(() => null, (e: unknown) => e)
  t.ok(err && isWriteConflict(err), 'serialization_failure: the batcher reads again and finds a duplicate')
  t.equal(await planJobs(h.app.db, [job(h, 'evt_batch_dup', succeeded('pi_batch_dup', 900))], { slot: 0 }).then((p) => p[0]?.outcome), 'duplicate', 'read again, it is a duplicate')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 0, 'nothing counted')
})

t.test('one event the database refuses fails alone: the others in its batch are applied', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const poisoned = `pi_poison_${randomBytes(4).toString('hex')}`
  await refuseTransactionsOf(t, h.app, poisoned)

  const good = Array.from({ length: 12 }, (_, i) => fakeEvent('payment_intent.succeeded', paymentIntent(`pi_good_${i}`, 200)))
  const bad = fakeEvent('payment_intent.succeeded', paymentIntent(poisoned, 999))
  const results = await Promise.all([...good.slice(0, 6), bad, ...good.slice(6)].map((e) => deliver(h, e)))
  t.same(results.map((r) => r.statusCode), [...good.slice(0, 6).map(() => 200), 500, ...good.slice(6).map(() => 200)], 'only the refused event answers 500')
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 12)
  const statuses = await eventStatuses(h.app, h.project.id)
  t.same(statuses.filter((e) => e.status === 'processed').length, 12)
  t.match(statuses.find((e) => e.id === bad.id), { status: 'failed' }, 'the refused one is failed, to be processed when Stripe retries')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
})

t.test('a batch stores every payload byte for byte, and refuses one that is not JSON text', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const payloads = [
    JSON.stringify({ id: 'evt_bytes_1', note: 'quotes " and \\ backslashes, {braces}, commas, NULL' }),
    JSON.stringify({ id: 'evt_bytes_2', note: 'ünïcödé € 😀 and an escaped control \u0001' }, null, 2),
    '{"id":"evt_bytes_3","empty":""}',
  ]
  const withPayload = (id: string, payload: string): Job => ({ record: { event: { ...record(h, id), payload }, status: 'processed', force: false }, effects: [] })
  await writePlans(h.app.db, writable(await planJobs(h.app.db, payloads.map((payload, i) => withPayload(`evt_bytes_${i + 1}`, payload)), { slot: 0 })))
  const stored = await queryRows<{ id: string, payload: string }>(h.app.db, sql`select id, payload from webhook_events where project_id = ${h.project.id} order by id`)
  t.same(stored.map((r) => r.payload), payloads, 'each payload exactly as given, in its own row')

  const err = await applyJob(h.app.db, withPayload('evt_bytes_rs', '{"a":1}\u001e{"b":2}'), { slot: 0 }).then(() => null, (e: unknown) => e)
  t.match(err, /not JSON text/, 'a raw record separator cannot be JSON: refused')
  t.equal(await countRows(h.app, 'webhook_events', { projectId: h.project.id }), 3, 'nothing more recorded')
})

t.test('a batch that conflicts (serialization_failure from the database) is read and written again: every event applied once', async (t) => {
  const h = await webhookHarness(t, { endpoint: false })
  const tag = randomBytes(4).toString('hex')
  const fn = sql.identifier(`conflict_once_${tag}`)
  const seq = sql.identifier(`conflict_once_seq_${tag}`)
  // The first insert of this event fails as a concurrent writer would make it fail; a sequence is not rolled back, so only once.
  await h.app.db.execute(sql`create sequence ${seq}`)
  await h.app.db.execute(sql`create function ${fn}() returns trigger language plpgsql as $$ begin
      if new.id = ${sql.raw(`'evt_conflict_${tag}'`)} and nextval(${sql.raw(`'conflict_once_seq_${tag}'`)}) = 1 then
        raise exception 'injected conflict' using errcode = 'serialization_failure';
      end if; return new; end $$`)
  await h.app.db.execute(sql`create trigger ${fn} before insert on webhook_events for each row execute function ${fn}()`)
  t.teardown(async () => {
    await h.app.db.execute(sql`drop trigger if exists ${fn} on webhook_events`).catch(() => {})
    await h.app.db.execute(sql`drop function if exists ${fn}()`).catch(() => {})
  })

  const batcher = new WebhookBatcher(h.app.db, { concurrency: 1, maxBatch: 100, slots: 8 })
  const ids = [`evt_conflict_${tag}`, ...Array.from({ length: 5 }, (_, i) => `evt_neighbour_${i}`)]
  const outcomes = await Promise.all(ids.map((id, i) => batcher.apply(job(h, id, succeeded(`pi_conflict_${i}`, 300)))))
  t.same(outcomes, ids.map(() => 'processed'), 'every event applied in the end')
  t.ok(batcher.counters.conflicts >= 1, `the conflict was met and retried (${batcher.counters.conflicts})`)
  t.equal(await countRows(h.app, 'transactions', { projectId: h.project.id }), 6, 'one row each, none twice')
  t.same((await eventStatuses(h.app, h.project.id)).map((e) => e.attempts), ids.map(() => 1), 'each recorded once, on the attempt that committed')
  t.same((await recomputeStats(h.app.db, { check: true, projectId: h.project.id })).drift, [], 'stats agree with a recompute')
})
