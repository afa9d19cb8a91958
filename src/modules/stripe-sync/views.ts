import type { Mode } from '../../platform/stripe/client.ts'
import { isoOrNull, unixToIso } from '../../platform/time.ts'
import { parseCursor, type StripeSyncRow } from './model.ts'

type Status = 'running' | 'interrupted' | 'succeeded' | 'failed'
const statusOf = (s: string): Status => (s === 'running' || s === 'interrupted' || s === 'succeeded' ? s : 'failed')

export function syncView (row: StripeSyncRow) {
  const cursor = parseCursor(row.cursor)
  return {
    sync_id: row.id,
    project_id: row.projectId,
    mode: row.mode as Mode,
    status: statusOf(row.status),
    phase: cursor.phase,
    since: unixToIso(row.since),
    full: row.full,
    events_through: cursor.phase === 'events' ? unixToIso(cursor.at) : null,
    progress: {
      events_listed: row.eventsListed,
      events_applied: row.eventsApplied,
      events_skipped: row.eventsSkipped,
      events_failed: row.eventsFailed,
      failed_deliveries_replayed: row.failedDeliveriesReplayed,
      objects_applied: row.objectsApplied,
      stripe_reads: row.stripeReads,
      rate_limited: row.rateLimited,
    },
    error: row.error,
    started_at: row.startedAt.toISOString(),
    updated_at: row.updatedAt.toISOString(),
    finished_at: isoOrNull(row.finishedAt),
  }
}
