import t from 'tap'
import { openDatabase } from '../src/platform/db/client.ts'
import { isWriteConflict, retryOnConflict, sqlStateOf, WriteConflict } from '../src/platform/db/conflicts.ts'
import { join, q, raw, render, runRows, withCtes } from '../src/platform/db/statement.ts'
import { testDatabase } from './helpers/app.ts'

t.test('fragments render to $n placeholders in order, nested and joined, with values never in the text', async (t) => {
  const inner = q`id = ${'x\'; drop table projects; --'} and n = ${2}`
  const rows = join([q`(${1}, ${'a'})`, q`(${3}, ${null})`], ', ')
  const { text, params } = render(withCtes([['a', q`select * from (values ${rows}) v(n, s)`]], q`select ${raw('count(*)')} from a where ${inner} or s = ${undefined}`))
  t.equal(text, 'with a as (select * from (values ($1, $2), ($3, $4)) v(n, s)) select count(*) from a where id = $5 and n = $6 or s = $7')
  t.same(params, [1, 'a', 3, null, 'x\'; drop table projects; --', 2, null], 'undefined is sent as null')
  t.equal(render(join([], ', ')).text, '', 'an empty join is empty')
})

t.test('runRows runs a fragment on the database and inside a transaction, with typed values back', async (t) => {
  const { database } = await testDatabase()
  const [row] = await runRows<{ n: number, s: string, b: boolean, j: { k: number[] } }>(database.db,
    q`select ${41}::int + 1 as n, ${"it's"}::text as s, ${true}::boolean as b, json_build_object('k', json_build_array(${1}::int, ${2}::int)) as j`)
  t.same(row, { n: 42, s: 'it\'s', b: true, j: { k: [1, 2] } })
  const inTx = await database.db.transaction(async (tx) => runRows<{ v: string }>(tx, q`select ${'inside'}::text as v`))
  t.same(inTx, [{ v: 'inside' }])
})

t.test('a unique violation is a write conflict (retried); other errors are not', async (t) => {
  const { database } = await testDatabase()
  const err = await runRows(database.db, q`select 1 from (values (1), (1)) v(n) group by n having ${raw('1/0')} = 1`).then(() => null, (e: unknown) => e)
  t.equal(sqlStateOf(err), '22012', 'division by zero carries its SQLSTATE')
  t.notOk(isWriteConflict(err))
  t.ok(isWriteConflict(Object.assign(new Error('duplicate key'), { code: '23505' })))
  t.ok(isWriteConflict(new Error('wrapped', { cause: Object.assign(new Error('deadlock'), { code: '40P01' }) })), 'also when wrapped')
  let calls = 0
  t.equal(await retryOnConflict(async () => { if (++calls < 3) throw new WriteConflict('a row'); return 'done' }), 'done')
  t.equal(calls, 3)
  await t.rejects(retryOnConflict(async () => { throw new WriteConflict('a row') }, 2), WriteConflict, 'gives up after the attempts')
})

t.test('the embedded database has planner statistics right after migrating (it runs no autovacuum)', { skip: process.env.DATABASE_URL ? 'PGlite only: a server has autovacuum' : false }, async (t) => {
  const database = await openDatabase({})
  t.teardown(() => database.close())
  await database.migrate()
  const [row] = await runRows<{ analyzed: number }>(database.db, q`select count(*)::int as analyzed from pg_class where relname in ('webhook_events', 'transactions', 'subscriptions') and reltuples >= 0`)
  t.equal(row?.analyzed, 3, 'reltuples is no longer -1 (never analyzed)')
})

t.test('webhook payloads are compressed with lz4 on a server that has it (migration 0007), and read back as stored', async (t) => {
  const { database } = await testDatabase()
  const [setting] = await runRows<{ method: string }>(database.db, q`select attcompression::text as method from pg_attribute where attrelid = 'webhook_events'::regclass and attname = 'payload'`)
  const [lz4] = await runRows<{ available: boolean }>(database.db,
    q`select 'lz4' = any(enumvals) as available from pg_settings where name = 'default_toast_compression'`)
  if (database.kind === 'postgres' && lz4?.available) t.equal(setting?.method, 'l', 'lz4 on this server')
  else t.equal(setting?.method, '', `the server's default (${database.kind}, no lz4)`)
  const payload = JSON.stringify({ id: 'evt_lz4', data: { object: { lines: Array.from({ length: 60 }, (_, i) => ({ id: `il_${i}`, description: `line ${i}`, amount: i * 100 })) } } })
  const [project] = await runRows<{ id: string }>(database.db, q`insert into projects (developer_id, name, end_user_secret) values ('dev_lz4', 'lz4', 'sealed') returning id`)
  await runRows(database.db, q`insert into webhook_events (project_id, mode, id, type, status, event_created, payload)
    values (${project?.id}::uuid, 'test', 'evt_lz4', 'invoice.paid', 'processed', 1, ${payload})`)
  const [row] = await runRows<{ payload: string, method: string | null }>(database.db,
    q`select payload, pg_column_compression(payload) as method from webhook_events where project_id = ${project?.id}::uuid and id = 'evt_lz4'`)
  t.equal(row?.payload, payload, 'the payload reads back byte for byte')
  t.equal(row?.method, setting?.method === 'l' ? 'lz4' : 'pglz', 'stored compressed with the column\'s method')
})
