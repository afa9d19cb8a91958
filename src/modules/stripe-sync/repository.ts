import { and, desc, eq, inArray, sql, type SQLWrapper } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { stripeSyncs } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

import type { StripeSyncRow } from './model.ts'

export type { StripeSyncRow }
export type SyncStatus = 'running' | 'interrupted' | 'succeeded' | 'failed'

/** What a run adds to its row as it goes (counters are increments, the cursor replaces). */
export interface SyncProgress {
  cursor: string
  eventsListed?: number
  eventsApplied?: number
  eventsSkipped?: number
  eventsFailed?: number
  failedDeliveriesReplayed?: number
  objectsApplied?: number
  stripeReads?: number
  rateLimited?: number
}

/** The project's and mode's running or interrupted sync (at most one: a partial unique index). */
export async function findUnfinished (db: Executor, projectId: string, mode: Mode): Promise<StripeSyncRow | undefined> {
  const [row] = await db.select().from(stripeSyncs)
    .where(and(eq(stripeSyncs.projectId, projectId), eq(stripeSyncs.mode, mode), inArray(stripeSyncs.status, ['running', 'interrupted'])))
  return row
}

export async function findSync (db: Executor, projectId: string, id: string): Promise<StripeSyncRow | undefined> {
  const [row] = await db.select().from(stripeSyncs).where(and(eq(stripeSyncs.projectId, projectId), eq(stripeSyncs.id, id)))
  return row
}

export async function latestSyncs (db: Executor, projectId: string, mode: Mode, limit: number): Promise<StripeSyncRow[]> {
  return db.select().from(stripeSyncs).where(and(eq(stripeSyncs.projectId, projectId), eq(stripeSyncs.mode, mode)))
    .orderBy(desc(stripeSyncs.createdAt), desc(stripeSyncs.id)).limit(limit)
}

/** A new running sync owned by `owner`; undefined when the project and mode already have an unfinished one (any instance's). */
export async function insertSync (db: Executor, values: { projectId: string, mode: Mode, since: number, full: boolean, cursor: string, owner: string }): Promise<StripeSyncRow | undefined> {
  const [row] = await db.insert(stripeSyncs)
    .values({ ...values, status: 'running', heartbeatAt: sql`now()` })
    .onConflictDoNothing()
    .returning()
  return row
}

/**
 * Takes over an interrupted sync, or a running one whose owner stopped saving progress for
 * `staleSeconds` (an instance that died): only one claimant gets the row.
 */
export async function claimSync (db: Executor, id: string, owner: string, staleSeconds: number): Promise<StripeSyncRow | undefined> {
  const [row] = await db.update(stripeSyncs)
    .set({ status: 'running', owner, heartbeatAt: sql`now()`, updatedAt: sql`now()`, error: null })
    .where(and(eq(stripeSyncs.id, id), sql`(${stripeSyncs.status} = 'interrupted' or (${stripeSyncs.status} = 'running'
      and ${stripeSyncs.heartbeatAt} < now() - make_interval(secs => ${staleSeconds})))`))
    .returning()
  return row
}

/** Saves progress while `owner` still runs the sync; false when it does not (taken over): the run stops. */
export async function saveProgress (db: Executor, id: string, owner: string, p: SyncProgress): Promise<boolean> {
  const add = (column: SQLWrapper, n: number | undefined) => sql`${column} + ${n ?? 0}::int`
  const rows = await db.update(stripeSyncs).set({
    cursor: p.cursor,
    eventsListed: add(stripeSyncs.eventsListed, p.eventsListed),
    eventsApplied: add(stripeSyncs.eventsApplied, p.eventsApplied),
    eventsSkipped: add(stripeSyncs.eventsSkipped, p.eventsSkipped),
    eventsFailed: add(stripeSyncs.eventsFailed, p.eventsFailed),
    failedDeliveriesReplayed: add(stripeSyncs.failedDeliveriesReplayed, p.failedDeliveriesReplayed),
    objectsApplied: add(stripeSyncs.objectsApplied, p.objectsApplied),
    stripeReads: add(stripeSyncs.stripeReads, p.stripeReads),
    rateLimited: add(stripeSyncs.rateLimited, p.rateLimited),
    heartbeatAt: sql`now()`,
    updatedAt: sql`now()`,
  }).where(and(eq(stripeSyncs.id, id), eq(stripeSyncs.owner, owner), eq(stripeSyncs.status, 'running'))).returning({ id: stripeSyncs.id })
  return rows.length > 0
}

/** Ends the owner's run: succeeded, failed (with a short, secret-free error) or interrupted (resumable). */
export async function finishSync (db: Executor, id: string, owner: string, status: Exclude<SyncStatus, 'running'>, error: string | null = null): Promise<void> {
  await db.update(stripeSyncs).set({
    status,
    error,
    finishedAt: status === 'interrupted' ? null : sql`now()`,
    updatedAt: sql`now()`,
  }).where(and(eq(stripeSyncs.id, id), eq(stripeSyncs.owner, owner), eq(stripeSyncs.status, 'running')))
}
