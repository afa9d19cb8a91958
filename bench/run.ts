import { execSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { checkoutOverhead } from './checkout-overhead.ts'
import { clientResolution } from './client-resolution.ts'
import { creditReads } from './credit-reads.ts'
import { creditsBench } from './credits.ts'
import { dashboardReads } from './dashboard-reads.ts'
import { pgliteIngest } from './pglite-ingest.ts'
import { webhookIngest } from './webhook-ingest.ts'

/** `npm run bench`: every benchmark in sequence, each bounded; prints the machine and the figures. */
const commit = (() => { try { return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim() } catch { return 'unknown' } })()
console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; node ${process.version}; ${new Date().toISOString()}; commit ${commit}`)
await webhookIngest()
await pgliteIngest()
await dashboardReads()
await clientResolution()
await checkoutOverhead()
await creditsBench()
await creditReads()
