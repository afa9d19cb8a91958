import { and, desc, eq, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../platform/db/client.ts'
import type { ReadKind, WriteKind } from '../platform/db/effects.ts'
import { q, raw, runRows } from '../platform/db/statement.ts'
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

/** An event to record with its effects: processed (its effects are written) or ignored (a type registry.ts does not handle). */
export interface EventRecordWrite {
  event: EventRecord
  status: 'processed' | 'ignored'
  /** A replay: take the event again even if it was processed. */
  force: boolean
}

/** The recorded status of an event (null: not seen yet), read with the rows its effects read. */
export const eventStatus: ReadKind<{ projectId: string, mode: Mode, id: string }, string | null> = {
  name: 'event status',
  inputs: [
    { name: 'p', type: 'uuid', pick: (k) => k.projectId },
    { name: 'm', type: 'text', pick: (k) => k.mode },
    { name: 'e', type: 'text', pick: (k) => k.id },
  ],
  select: (arg) => q`select w.status from webhook_events w where w.project_id = ${arg('p')} and w.mode = ${arg('m')} and w.id = ${arg('e')}`,
  parse: (value) => (typeof value === 'string' ? value : null),
}

const RECORD_SEPARATOR = '\u001e'

/**
 * The payloads as one text, joined by U+001E and split again in SQL: sent as a text[] parameter,
 * postgres.js would escape every quote of every body (a few KB each), the largest part of building
 * the batch statement. A JSON text never holds a raw U+001E (control characters appear in it only
 * escaped), and every payload here is a body that verify.ts parsed as JSON.
 */
function joinPayloads (events: readonly EventRecord[]): string {
  for (const e of events) if (e.payload.includes(RECORD_SEPARATOR)) throw new Error(`event ${e.id}: the payload is not JSON text`)
  return events.map((e) => e.payload).join(RECORD_SEPARATOR)
}

/**
 * The events' records, first among the writes: every one must be new, or failed before (or forced, a
 * replay). If another delivery recorded one meanwhile, the statement raises serialization_failure
 * and writes nothing (the pipeline reads again and finds a duplicate); the kinds after this one run
 * only when every event was recorded.
 */
export const eventRecords: WriteKind<EventRecordWrite> = {
  name: 'event records',
  ctes (items, gate) {
    const events = items.map((w) => w.event)
    return {
      ctes: [
        ['go', q`insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload, processed_at)
          select e.p, e.m, e.id, e.type, e.status, 1, null, e.created, e.payload, now()
          from unnest(${events.map((e) => e.projectId)}::uuid[], ${events.map((e) => e.mode)}::text[], ${events.map((e) => e.id)}::text[], ${events.map((e) => e.type)}::text[],
            ${items.map((w) => w.status)}::text[], ${events.map((e) => e.created)}::bigint[], string_to_array(${joinPayloads(events)}::text, chr(30)))
            as e(p, m, id, type, status, created, payload)
          where ${gate}
          on conflict (project_id, mode, id) do update set status = excluded.status, attempts = webhook_events.attempts + 1, error = null, processed_at = now()
          where webhook_events.status = 'failed' or webhook_events.id = any(${items.filter((w) => w.force).map((w) => w.event.id)}::text[])
          returning 1`],
        ['rec', q`select webhook_write_conflict_unless((select count(*) from go) = ${events.length}::int, 'an event was recorded by another delivery') as ok`],
      ],
      gate: raw('(select ok from rec)'),
    }
  },
}

/** Processed or ignored: a delivery of such an event is a duplicate, whatever it says. */
export const isSettledStatus = (status: string | null | undefined): boolean => status != null && status !== 'failed'

export interface EventKey { projectId: string, mode: Mode, eventId: string }

/** The recorded status of each event (null: not seen), in the order asked; one statement. */
export async function readEventStatuses (db: Executor, keys: readonly EventKey[]): Promise<Array<string | null>> {
  const rows = await runRows<{ i: number, status: string | null }>(db, q`select k.i,
      (select w.status from webhook_events w where w.project_id = k.p and w.mode = k.m and w.id = k.e) as status
    from unnest(${keys.map((_, i) => i)}::int[], ${keys.map((k) => k.projectId)}::uuid[], ${keys.map((k) => k.mode)}::text[], ${keys.map((k) => k.eventId)}::text[]) as k(i, p, m, e)`)
  const out: Array<string | null> = keys.map(() => null)
  for (const r of rows) out[Number(r.i)] = r.status ?? null
  return out
}

/**
 * After the batch statement failed (it wrote nothing): remember the failure outside it, so the next
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
