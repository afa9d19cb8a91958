import { parseArgs } from 'node:util'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../platform/http/errors.ts'
import type { Mode } from '../platform/stripe/client.ts'
import { isUuid } from '../platform/uuid.ts'
import type { StripeSyncRow } from '../modules/stripe-sync/repository.ts'
import { syncView } from '../modules/stripe-sync/views.ts'

export interface SyncArgs { project: string, mode: Mode, since?: string, full: boolean }

export class UsageError extends Error {
  override name = 'UsageError'
}

export const SYNC_USAGE = 'usage: npm run stripe:sync -- --project <uuid> --mode test|live [--since <YYYY-MM-DD or ISO date-time>] [--full]'

/** `--project <uuid> --mode test|live [--since <date>] [--full]`; anything else is a UsageError. */
export function parseSyncArgs (argv: string[]): SyncArgs {
  let values
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { project: { type: 'string' }, mode: { type: 'string' }, since: { type: 'string' }, full: { type: 'boolean', default: false } } }))
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err))
  }
  const project = values.project?.toLowerCase()
  if (!project || !isUuid(project)) throw new UsageError('--project must be a project id (uuid)')
  if (values.mode !== 'test' && values.mode !== 'live') throw new UsageError('--mode must be test or live')
  return { project, mode: values.mode, full: values.full ?? false, ...(values.since !== undefined ? { since: values.since } : {}) }
}

const progressLine = (row: StripeSyncRow): string => {
  const v = syncView(row)
  const p = v.progress
  return `${v.status} ${v.phase}${v.events_through ? ` through ${v.events_through}` : ''}: ${p.events_applied} applied (${p.failed_deliveries_replayed} failed deliveries), ` +
    `${p.events_skipped} already recorded, ${p.events_failed} failed, ${p.objects_applied} objects, ${p.stripe_reads} Stripe reads, ${p.rate_limited} rate limited`
}

/**
 * Runs (or resumes, or waits for) the project's sync in this process, with the service's own code,
 * printing its progress every `everyMs`; resolves with the finished row. An operator's command: no
 * developer check, but the project must have a configuration for the mode.
 */
export async function runStripeSync (app: FastifyInstance, args: SyncArgs, print: (line: string) => void, everyMs = 2_000): Promise<StripeSyncRow> {
  const { row, outcome } = await app.stripeSync.request(null, args.project, args.mode, { since: args.since, full: args.full })
  print(`sync ${row.id} ${outcome} (project ${row.projectId}, ${row.mode} mode, since ${new Date(row.since * 1000).toISOString()}${row.full ? ', full' : ''})`)
  const timer = setInterval(() => {
    void app.stripeSync.find(row.projectId, row.id).then((r) => { if (r) print(progressLine(r)) }, () => {})
  }, everyMs)
  try {
    await app.stripeSync.settled(row.id)
    // Run by another instance: wait for it there.
    for (;;) {
      const current = await app.stripeSync.find(row.projectId, row.id)
      if (!current) throw new AppError(404, 'not_found', 'Not found', 'The sync disappeared')
      if (current.status !== 'running') {
        print(progressLine(current))
        return current
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  } finally {
    clearInterval(timer)
  }
}
