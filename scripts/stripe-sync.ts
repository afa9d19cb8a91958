// npm run stripe:sync -- --project <uuid> --mode test|live [--since <date>] [--full]: resyncs a
// project's mode from Stripe after missed webhooks (the same sync as POST .../sync), in this process,
// printing its progress. Exit code 0 when it succeeded, 1 when it failed or was interrupted, 2 on bad input.
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { AppError } from '../src/platform/http/errors.ts'
import { parseSyncArgs, runStripeSync, SYNC_USAGE, UsageError } from '../src/jobs/stripe-sync.ts'

let args
try {
  args = parseSyncArgs(process.argv.slice(2))
} catch (err) {
  if (!(err instanceof UsageError)) throw err
  console.error(`${err.message}\n${SYNC_USAGE}`)
  process.exit(2)
}
const app = await buildApp({ config: loadConfig() })
let exitCode = 1
let closing = false
// Ctrl-C stops the sync where it is (saved as interrupted): the same command resumes it.
process.once('SIGINT', () => { closing = true; void app.close() })
try {
  await app.ready()
  const row = await runStripeSync(app, args, (line) => console.log(line))
  if (row.status === 'succeeded') exitCode = 0
  else console.error(row.status === 'interrupted' ? 'interrupted: run the same command again to resume' : `failed: ${row.error ?? 'unknown error'}`)
} catch (err) {
  if (err instanceof AppError) {
    console.error(`${err.code}: ${err.message}`)
    exitCode = err.status < 500 ? 2 : 1
  } else throw err
} finally {
  if (!closing) await app.close()
}
process.exitCode = exitCode
