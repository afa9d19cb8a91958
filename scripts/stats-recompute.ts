// npm run stats:recompute [-- --check] [-- --project <uuid>]: recomputes every stats row from the
// subscriptions and transactions, prints the drift (none expected) and rewrites the rows.
// With --check it only reports, and exits 1 when there is drift.
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { recomputeStats } from '../src/jobs/stats-recompute.ts'

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, project: { type: 'string' } } })
const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite` })
let exitCode = 0
try {
  await database.migrate()
  const result = await recomputeStats(database.db, { check: values.check, ...(values.project ? { projectId: values.project } : {}) })
  if (result.drift.length === 0) {
    console.log(`no drift (${result.dailyRows} daily rows, ${result.currentRows} subscription rows recomputed)`)
  } else {
    console.log(`drift in ${result.drift.length} value(s):`)
    for (const d of result.drift) {
      console.log(`  ${d.table} project=${d.project_id} mode=${d.mode}${d.day ? ` day=${d.day}` : ''} currency=${d.currency} ${d.field}: stored ${d.stored}, expected ${d.expected}`)
    }
    console.log(result.rewritten ? 'stats rows rewritten from the source rows' : 'nothing written (--check)')
    if (values.check) exitCode = 1
  }
} finally {
  await database.close()
}
process.exitCode = exitCode
