import { and, desc, eq, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../platform/db/client.ts'
import { empty, q, raw, runRows, type Fragment } from '../platform/db/statement.ts'
import { webhookEvents } from '../platform/db/schema.ts'
import type { Mode } from '../platform/stripe/client.ts'

export type WebhookEventRow = typeof webhookEvents.$inferSelect
export type WebhookEventStatus = 'processed' | 'ignored' | 'failed'

export interface EventRecord {
  projectId: string
  mode: Mode
  id: string
  type: string
  created: number
  /** The raw JSON text of the event, stored as jsonb so a replay can re-run it. */
  payload: string
}

/**
 * Records the event in one statement. Answers null when the event was already processed or ignored:
 * only a failed event is taken again (unless `force`, a replay). A concurrent delivery of the same
 * event waits on the primary key until the first commits.
 */
export async function recordEvent (db: Executor, rec: EventRecord, status: 'processed' | 'ignored', force = false): Promise<{ attempts: number } | null> {
  const [row] = await runRows<{ attempts: number }>(db, recordEventSql(rec, status, force))
  return row ? { attempts: Number(row.attempts) } : null
}

/**
 * The event's insert (`returning attempts`), alone or as the CTE of a handler's one guarded write:
 * it inserts only if `onlyIf` holds, and takes an existing row again only when that one failed
 * (or `force`, a replay). No row returned means a duplicate (or `onlyIf` false).
 */
export function recordEventSql (rec: EventRecord, status: 'processed' | 'ignored', force: boolean, onlyIf?: Fragment): Fragment {
  return q`insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload, processed_at)
    select ${rec.projectId}::uuid, ${rec.mode}::varchar, ${rec.id}::varchar, ${rec.type}::varchar, ${status}::varchar, 1, null, ${rec.created}::bigint, ${rec.payload}::text, now()${onlyIf ? q` where ${onlyIf}` : empty}
    on conflict (project_id, mode, id) do update set
      status = excluded.status, attempts = webhook_events.attempts + 1, error = null, processed_at = now()
    where ${force ? raw('true') : raw(`webhook_events.status = 'failed'`)}
    returning attempts`
}

/** An event a guarded write records in its own statement (the handlers' PendingRecord). */
export interface EventRecordWrite {
  event: EventRecord
  /** A replay: take the event again even if it was processed. */
  force: boolean
}

/** The status of an event, as a scalar subquery for a handler's read (null: not seen yet). */
export const eventStatusSql = (projectId: string, mode: Mode, id: string): Fragment =>
  q`(select status from webhook_events where project_id = ${projectId}::uuid and mode = ${mode}::varchar and id = ${id}::varchar)`

/** Processed or ignored: a delivery of such an event is a duplicate, whatever it says. */
export const isSettledStatus = (status: string | null | undefined): boolean => status != null && status !== 'failed'

/** Whether the event is already processed or ignored: such a delivery is a duplicate, whatever it says. */
export async function isSettled (db: Executor, projectId: string, mode: Mode, id: string): Promise<boolean> {
  const [row] = await runRows<{ status: string | null }>(db, q`select ${eventStatusSql(projectId, mode, id)} as status`)
  return isSettledStatus(row?.status)
}

/**
 * After the processing transaction rolled back: remember the failure outside it, so the next
 * delivery (or a replay) processes the event again. A processed or ignored row is never downgraded.
 */
export async function recordFailure (db: Executor, rec: EventRecord, error: string): Promise<void> {
  await db.execute(sql`insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload)
    values (${rec.projectId}::uuid, ${rec.mode}, ${rec.id}, ${rec.type}, 'failed', 1, ${error}, ${rec.created}::bigint, ${rec.payload})
    on conflict (project_id, mode, id) do update set attempts = webhook_events.attempts + 1, error = excluded.error
    where webhook_events.status = 'failed'`)
}

export async function findEvent (db: Executor, projectId: string, mode: Mode, id: string): Promise<WebhookEventRow | undefined> {
  const [row] = await db.select().from(webhookEvents)
    .where(and(eq(webhookEvents.projectId, projectId), eq(webhookEvents.mode, mode), eq(webhookEvents.id, id)))
  return row
}

export interface EventListFilter { status?: WebhookEventStatus | undefined, type?: string | undefined }

/** Newest first; the cursor is the last event id of the previous page. */
export async function listEvents (db: Executor, projectId: string, mode: Mode, filter: EventListFilter, limit: number, startingAfter?: string): Promise<Array<Omit<WebhookEventRow, 'payload'>>> {
  const conditions: SQL[] = [eq(webhookEvents.projectId, projectId), eq(webhookEvents.mode, mode)]
  if (filter.status) conditions.push(eq(webhookEvents.status, filter.status))
  if (filter.type) conditions.push(eq(webhookEvents.type, filter.type))
  if (startingAfter) {
    // Compared inside SQL: a JS Date drops Postgres' microseconds and would repeat or skip rows.
    conditions.push(sql`(${webhookEvents.receivedAt}, ${webhookEvents.id}) < (select c.received_at, c.id from ${webhookEvents} c
      where c.project_id = ${projectId} and c.mode = ${mode} and c.id = ${startingAfter})`)
  }
  return db.select({
    projectId: webhookEvents.projectId,
    mode: webhookEvents.mode,
    id: webhookEvents.id,
    type: webhookEvents.type,
    status: webhookEvents.status,
    attempts: webhookEvents.attempts,
    error: webhookEvents.error,
    eventCreated: webhookEvents.eventCreated,
    receivedAt: webhookEvents.receivedAt,
    processedAt: webhookEvents.processedAt,
  }).from(webhookEvents)
    .where(and(...conditions))
    .orderBy(desc(webhookEvents.receivedAt), desc(webhookEvents.id))
    .limit(limit)
}
