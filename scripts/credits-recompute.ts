// npm run credits:recompute [-- --check] [-- --project <uuid>]: proves every wallet equals its ledger
// and its lots, every ledger entry follows from the one before, and every refunded purchase took back
// its share; prints any drift. Without --check, cached wallet rows that differ from their ledger are
// rewritten from it (the ledger is never changed). With --check it only reports and exits 1 on drift.
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { recomputeCredits } from '../src/jobs/credits-recompute.ts'

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, project: { type: 'string' } } })
const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite` })
let exitCode = 0
try {
  await database.migrate()
  const result = await recomputeCredits(database.db, { check: values.check, ...(values.project ? { projectId: values.project } : {}) })
  if (result.drift.length === 0) {
    console.log(`no drift (${result.wallets} wallets, ${result.entries} ledger entries checked)`)
  } else {
    console.log(`drift in ${result.drift.length} value(s):`)
    for (const d of result.drift) console.log(`  wallet ${d.wallet_id} (end user ${d.end_user_id}) ${d.what}: stored ${d.stored}, expected ${d.expected}`)
    console.log(result.rewritten ? 'cached wallet rows rewritten from the ledger' : 'nothing written')
    if (values.check) exitCode = 1
  }
} finally {
  await database.close()
}
process.exitCode = exitCode
