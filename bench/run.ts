import { execSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { pgliteIngest } from './pglite-ingest.ts'
import { webhookIngest } from './webhook-ingest.ts'

/** `npm run bench`: every benchmark in sequence, each bounded; prints the machine and the figures. */
const commit = (() => { try { return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim() } catch { return 'unknown' } })()
console.log(`machine: ${cpus().length} cores, ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; node ${process.version}; ${new Date().toISOString()}; commit ${commit}`)
await webhookIngest()
await pgliteIngest()
console.log('stats/list benchmarks after npm run seed: not yet (see bench/RESULTS.md)')
