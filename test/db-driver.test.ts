import t from 'tap'
import { spawnSync } from 'node:child_process'
import { TEST_DATABASE_URL } from './helpers/app.ts'

// postgres.js fetches array types as the first statement of every connection and dropped that promise:
// when the connection was killed or the statement cancelled meanwhile (pg_terminate_backend, a restart),
// the rejection was unhandled and ended the process (porsager/postgres#1192, #1205, #1223). The patch
// in patches/ settles it. A 1 ms statement_timeout cancels that first statement every time.
const script = `
import postgres from 'postgres'
let unhandled = null
process.on('unhandledRejection', (e) => { unhandled = e })
const sql = postgres(process.env.URL, { max: 1, connection: { statement_timeout: 1 }, onnotice: () => {} })
const results = []
for (let i = 0; i < 3; i++) {
  try { await sql\`select 1 as x\`; results.push('ok') } catch (e) { results.push(e.code) }
  await new Promise((r) => setTimeout(r, 20))
}
await sql.end({ timeout: 1 })
console.log(JSON.stringify({ unhandled: unhandled ? String(unhandled.code) : null, results }))
`

t.test('a connection whose type fetch fails does not end the process', { skip: TEST_DATABASE_URL ? false : 'needs a PostgreSQL server (set DATABASE_URL): the driver under test is postgres.js' }, async (t) => {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), env: { ...process.env, URL: TEST_DATABASE_URL ?? '' }, encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 0, run.stderr)
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { unhandled: string | null, results: string[] }
  t.equal(out.unhandled, null, 'no unhandled rejection')
  t.equal(out.results.at(-1), 'ok', 'the connection serves queries afterwards')
})
