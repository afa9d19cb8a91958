import t, { type Test } from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { queryRows, type Database } from '../../src/platform/db/client.ts'
import { assertProblem, buildTestApp, createProject, newDeveloper, secondConnection, testDatabase, TEST_DATABASE_URL } from '../helpers/app.ts'
import { CONSUME_CONCURRENCY } from '../../src/modules/credits/service.ts'
import { balanceOf, createApiKey, creditsCall } from '../helpers/credits.ts'
import { recomputeCredits } from '../../src/jobs/credits-recompute.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const GATES = Array.from({ length: CONSUME_CONCURRENCY }, (_, i) => `gate${i}`)

/**
 * Consumes that arrive while batches are in the database go together in the next one. To put a known
 * set of requests in one batch, a transaction on another connection holds the gate wallets' rows (on
 * PGlite, any open transaction holds the whole database), and one consume of each gate wallet takes
 * every batch slot and waits; the requests sent meanwhile queue, in the order sent, and go together
 * once the gates open.
 */
async function shop (t: Test) {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const s = { app, dev, project }
  const { key } = await createApiKey(s)
  for (const [endUserId, amount] of [...GATES.map((g) => [g, 10] as const), ['door', 10], ['a', 10], ['b', 5]] as const) {
    const res = await creditsCall(s, key, 'POST', '/adjustments', { end_user_id: endUserId, amount, bucket: 'purchased', reason: 'seed' })
    if (res.statusCode !== 200) throw new Error(res.body)
  }
  return { ...s, key }
}

type Shop = Awaited<ReturnType<typeof shop>>

async function holdWallets (database: Database, projectId: string, endUserIds: string[]): Promise<{ pid: number, release (): Promise<void> }> {
  let release = () => {}
  const released = new Promise<void>((resolve) => { release = resolve })
  let held = () => {}
  const holding = new Promise<void>((resolve) => { held = resolve })
  let pid = 0
  const done = database.db.transaction(async (tx) => {
    await tx.execute(sql`select 1 from credit_wallets where project_id = ${projectId} and end_user_id in ${endUserIds} order by id for update`)
    if (TEST_DATABASE_URL) pid = Number((await queryRows<{ pid: number }>(tx, sql`select pg_backend_pid() as pid`))[0]?.pid)
    held()
    await released
  })
  await holding
  return { pid, release: async () => { release(); await done } }
}

/** Backends waiting for the holder's locks (PostgreSQL). */
const blockedBy = async (database: Database, pid: number): Promise<number[]> =>
  (await queryRows<{ pid: number }>(database.db, sql`select pid from pg_stat_activity where ${pid} = any(pg_blocking_pids(pid))`)).map((r) => Number(r.pid))

async function waitForBlocked (database: Database, pid: number, enough: (pids: number[]) => boolean): Promise<number[]> {
  for (let i = 0; i < 500; i++) {
    const pids = await blockedBy(database, pid)
    if (enough(pids)) return pids
    await sleep(10)
  }
  throw new Error('the consumes did not wait for the gate')
}

/**
 * Every batch slot taken by a consume of a held gate wallet (their answers), once each waits: on
 * PostgreSQL seen in pg_stat_activity, on PGlite (nothing to see while the database is held) after a pause.
 */
async function takeEverySlot (s: Shop, prefix: string, holder: { database: Database, pid: number }): Promise<Array<Promise<LightMyRequestResponse>>> {
  const answers = GATES.map((gate) => creditsCall(s, s.key, 'POST', '/consume', { end_user_id: gate, amount: 1 }, `${prefix}-${gate}`))
  if (TEST_DATABASE_URL) await waitForBlocked(holder.database, holder.pid, (pids) => pids.length >= GATES.length)
  else await sleep(100)
  return answers
}

type Call = () => Promise<LightMyRequestResponse>

/** Sends each request a moment after the one before (so they reach the service in this order); the answers, in order. */
async function sendInOrder<const C extends readonly Call[]> (calls: C): Promise<{ -readonly [K in keyof C]: Promise<LightMyRequestResponse> }> {
  const sent: Array<Promise<LightMyRequestResponse>> = []
  for (const call of calls) {
    sent.push(call())
    await sleep(15)
  }
  return sent as { -readonly [K in keyof C]: Promise<LightMyRequestResponse> }
}

/** The transactions that wrote a wallet's consume entries (a batch is one transaction). */
const consumeTransactions = async (app: FastifyInstance, projectId: string, endUserIds: string[]) =>
  Number((await queryRows<{ n: number }>(app.db, sql`select count(distinct l.xmin::text)::int as n from credit_ledger l join credit_wallets w on w.id = l.wallet_id
    where w.project_id = ${projectId} and w.end_user_id in ${endUserIds} and l.kind = 'consume'`))[0]?.n)

t.test('one batch holding a 402, a replay, a 409 and successes answers each as if it ran alone', async (t) => {
  const s = await shop(t)
  const { database } = await testDatabase()
  const consume = (endUserId: string, amount: number, key: string, extra: Record<string, unknown> = {}) => () => creditsCall(s, s.key, 'POST', '/consume', { end_user_id: endUserId, amount, ...extra }, key)
  const post = { description: 'a post', metadata: { post_id: 'p_1' } }
  const holder = TEST_DATABASE_URL ? await secondConnection(t) : database
  const gate = await holdWallets(holder, s.project.id, GATES)
  const gates = await takeEverySlot(s, 'g', { database: holder, pid: gate.pid })
  const answers = await sendInOrder([
    consume('a', 3, 'k1', post), // 200: a has 7 left
    consume('a', 3, 'k1', post), // the same key and body in the same batch: the first answer again
    consume('a', 4, 'k1', post), // the same key, another body: 409
    consume('a', 8, 'k2'), // 402: 7 left, nothing spent
    consume('a', 7, 'k3'), // 200: a has 0
    consume('b', 6, 'k4'), // 402 on another wallet
    consume('b', 5, 'k5'), // 200: b has 0
    consume('nobody', 1, 'k6'), // 402: no wallet at all
  ])
  await sleep(50)
  await gate.release()
  t.same((await Promise.all(gates)).map((r) => r.statusCode), GATES.map(() => 200))
  const [spent, replay, reused, short, rest, shortB, restB, nobody] = await Promise.all(answers)

  t.equal(spent.statusCode, 200, spent.body)
  t.notOk(spent.headers['idempotent-replayed'])
  t.match(spent.json(), { amount: 3, end_user_id: 'a', ...post, balance: { available: 7 } })
  t.equal(replay.statusCode, 200, replay.body)
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.equal(replay.json<{ id: string }>().id, spent.json<{ id: string }>().id, 'the replay is the first answer')
  assertProblem(t, reused, 409, 'idempotency_key_reused')
  assertProblem(t, short, 402, 'insufficient_credits')
  t.equal(short.json<{ balance: { available: number } }>().balance.available, 7, 'the 402 carries the balance its consume saw')
  t.equal(rest.statusCode, 200, rest.body)
  t.equal(rest.json<{ balance: { available: number } }>().balance.available, 0)
  assertProblem(t, shortB, 402, 'insufficient_credits')
  t.equal(restB.statusCode, 200, restB.body)
  assertProblem(t, nobody, 402, 'insufficient_credits')

  t.equal((await balanceOf(s, s.key, 'a')).total, 0)
  t.equal((await balanceOf(s, s.key, 'b')).total, 0)
  t.equal(await consumeTransactions(s.app, s.project.id, ['a', 'b']), 1, 'the spends of both wallets committed in one transaction')
  // A 402 is not remembered, in a batch as alone: its key spends once there are credits.
  await creditsCall(s, s.key, 'POST', '/adjustments', { end_user_id: 'a', amount: 8, bucket: 'purchased', reason: 'more' })
  const later = await creditsCall(s, s.key, 'POST', '/consume', { end_user_id: 'a', amount: 8 }, 'k2')
  t.equal(later.statusCode, 200, later.body)
  t.notOk(later.headers['idempotent-replayed'])
})

t.test('a consume the database refuses fails alone: the rest of its batch runs again, each by itself, and spends', async (t) => {
  const s = await shop(t)
  const { database } = await testDatabase()
  // A stand-in for anything that makes one consume raise (a constraint, a broken lot): a trigger refusing one description.
  await s.app.db.execute(sql.raw(`create or replace function refuse_poison() returns trigger language plpgsql as $$
    begin if new.description = 'poison' then raise exception 'poisoned' using errcode = '22023'; end if; return new; end $$`))
  await s.app.db.execute(sql.raw('create trigger refuse_poison before insert on credit_ledger for each row execute function refuse_poison()'))
  t.teardown(() => s.app.db.execute(sql.raw('drop trigger if exists refuse_poison on credit_ledger')))
  const consume = (body: Record<string, unknown>, key: string) => () => creditsCall(s, s.key, 'POST', '/consume', body, key)
  const holder = TEST_DATABASE_URL ? await secondConnection(t) : database
  const gate = await holdWallets(holder, s.project.id, GATES)
  const gates = await takeEverySlot(s, 'p', { database: holder, pid: gate.pid })
  const answers = await sendInOrder([
    consume({ end_user_id: 'a', amount: 2 }, 'p1'),
    consume({ end_user_id: 'a', amount: 1, description: 'poison' }, 'p2'),
    consume({ end_user_id: 'b', amount: 2 }, 'p3'),
  ])
  await sleep(50)
  await gate.release()
  t.same((await Promise.all(gates)).map((r) => r.statusCode), GATES.map(() => 200))
  const [one, poisoned, three] = await Promise.all(answers)
  t.equal(one.statusCode, 200, one.body)
  t.equal(poisoned.statusCode, 500, 'the consume that raised fails')
  t.equal(three.statusCode, 200, three.body)
  t.equal((await balanceOf(s, s.key, 'a')).total, 8, 'a: only the good consume spent')
  t.equal((await balanceOf(s, s.key, 'b')).total, 3)
  t.equal(await consumeTransactions(s.app, s.project.id, ['a', 'b']), 2, 'they committed one by one')
  await s.app.db.execute(sql.raw('drop trigger refuse_poison on credit_ledger'))
  const again = await creditsCall(s, s.key, 'POST', '/consume', { end_user_id: 'a', amount: 1, description: 'poison' }, 'p2')
  t.equal(again.statusCode, 200, 'the failed consume left nothing behind: its key spends now')
  t.notOk(again.headers['idempotent-replayed'])
})

t.test('a batch whose connection is lost answers none of its consumes as spent, and spent nothing', { skip: TEST_DATABASE_URL ? false : 'PGlite has no connection to lose' }, async (t) => {
  const s = await shop(t)
  const other = await secondConnection(t)
  const gate = await holdWallets(other, s.project.id, [...GATES, 'door'])
  const kill = (pids: number[]) => Promise.all(pids.map((pid) => other.db.execute(sql`select pg_terminate_backend(${pid})`)))
  // Every slot waits for a gate; the three sent meanwhile are the next batch, which waits for the door.
  const gates = await takeEverySlot(s, 'c', { database: other, pid: gate.pid })
  const first = await blockedBy(other, gate.pid)
  const batch = await sendInOrder(['a', 'b', 'door'].map((endUserId, i) => () => creditsCall(s, s.key, 'POST', '/consume', { end_user_id: endUserId, amount: 1 }, `c${i}`)))
  await kill(first)
  t.same((await Promise.all(gates)).map((r) => r.statusCode), GATES.map(() => 500))
  await kill((await waitForBlocked(other, gate.pid, (pids) => pids.some((pid) => !first.includes(pid)))).filter((pid) => !first.includes(pid)))
  for (const res of await Promise.all(batch)) t.equal(res.statusCode, 500, 'an unknown outcome is an error, never a 200')
  await gate.release()
  // postgres.js (3.4.9) fails one more query on each connection whose backend was terminated; these absorb it.
  await Promise.allSettled(Array.from({ length: 8 }, () => s.app.db.execute(sql`select 1`)))
  t.same(await Promise.all(['a', 'b', 'door', ...GATES].map(async (u) => (await balanceOf(s, s.key, u)).total)), [10, 5, 10, ...GATES.map(() => 10)], 'nothing was spent')
  const retried = await creditsCall(s, s.key, 'POST', '/consume', { end_user_id: 'a', amount: 1 }, 'c0')
  t.equal(retried.statusCode, 200, 'the caller retries with its key, and it spends once')
  t.notOk(retried.headers['idempotent-replayed'])
})

t.test('a batch counts its consumes into the stats once, as the ledger has them (migration 0021)', async (t) => {
  const s = await shop(t)
  const users = Array.from({ length: 24 }, (_, i) => `s${i}`)
  for (const u of users) {
    const res = await creditsCall(s, s.key, 'POST', '/adjustments', { end_user_id: u, amount: 20, bucket: 'purchased', reason: 'seed' })
    t.equal(res.statusCode, 200, res.body)
  }
  const stats = async () => (await queryRows<{ consumed: string, outstanding: string }>(s.app.db, sql`select
      (select coalesce(sum(consumed), 0) from stats_credits_daily where project_id = ${s.project.id}) as consumed,
      (select coalesce(sum(outstanding), 0) from stats_credits_current where project_id = ${s.project.id}) as outstanding`))[0]
  const before = await stats()
  // One statement: 24 wallets over every shard, one wallet three times, a replay, a key with another body, a 402 and a wallet that does not exist.
  const items = [
    ...users.map((u, i) => ({ end_user_id: u, amount: 1 + (i % 5), key: `k-${u}` })),
    { end_user_id: 's0', amount: 2, key: 'k-s0-b' }, { end_user_id: 's0', amount: 3, key: 'k-s0-c' },
    { end_user_id: 's1', amount: 2, key: 'k-s1' }, { end_user_id: 's3', amount: 7, key: 'k-s3' }, { end_user_id: 's2', amount: 99, key: 'k-s2-big' }, { end_user_id: 'nobody', amount: 1, key: 'k-nobody' },
  ].map((i) => ({ project_id: s.project.id, mode: 'test', fingerprint: `f-${i.key}-${i.amount}`, description: null, metadata: null, ...i }))
  const [row] = await queryRows<{ r: Array<{ status: number }> }>(s.app.db, sql`select credits_consume_batch(${JSON.stringify(items)}::jsonb) as r`)
  const statuses = row!.r.map((a) => a.status)
  t.same(statuses, [...users.map(() => 200), 200, 200, 200, 409, 402, 402], 'each item answered for itself (a replay, another body 409, two 402s)')
  const spent = users.reduce((n, _u, i) => n + 1 + (i % 5), 0) + 5
  const after = await stats()
  t.equal(Number(after!.consumed) - Number(before!.consumed), spent, 'consumed: every spend once')
  t.equal(Number(before!.outstanding) - Number(after!.outstanding), spent, 'outstanding: down by the same')
  const check = await recomputeCredits(s.app.db, { check: true, projectId: s.project.id })
  t.same(check.drift, [], 'the stats equal the ledger')
})
