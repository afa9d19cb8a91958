import type { Executor } from '../../platform/db/client.ts'
import { retryOnConflict } from '../../platform/db/conflicts.ts'
import { parseReads, read, readStatement, write, writeStatement, type Effect, type Guard, type PlanContext, type Read, type Write } from '../../platform/db/effects.ts'
import { runRows } from '../../platform/db/statement.ts'
import { eventRecords, eventStatus, isSettledStatus, type EventRecordWrite } from '../repository.ts'
import { EFFECT_KINDS } from './kinds.ts'

/**
 * The pipeline's one way to write: jobs (an event's record and its effects, or a request's effects
 * alone) are read in one statement, planned in TypeScript, and written in one statement that is all
 * or nothing. The batcher runs many jobs through it at once; everything else runs one job, the same
 * way (applyJob).
 */

export interface Job {
  /** The event recorded with the effects' writes; null for a change a request makes itself. */
  record: EventRecordWrite | null
  effects: readonly Effect[]
}

export type JobOutcome = 'processed' | 'ignored' | 'duplicate'

/** A job's plan: already settled (a duplicate), or the rows to guard and the writes to make. */
export type JobPlan =
  | { outcome: 'duplicate' }
  | { outcome: 'write', guards: Guard[], writes: Write[] }
  | { outcome: 'error', error: unknown }

/** The keys a job locks: its event, and every Stripe object its effects read or write. */
export function lockKeysOf (job: Job): string[] {
  const own = job.record ? [`evt|${job.record.event.projectId}|${job.record.event.mode}|${job.record.event.id}`] : []
  return [...own, ...job.effects.flatMap((e) => e.lockKeys)]
}

/**
 * Reads what every job's effects read, and each event's status, in one statement; then plans each
 * job on its own (a plan that throws, e.g. RefetchRequired, fails only its job). An event already
 * processed or ignored is a duplicate, unless the record forces it (a replay).
 */
export async function planJobs (db: Executor, jobs: readonly Job[], ctx: PlanContext): Promise<JobPlan[]> {
  const requests: Array<Read<unknown>> = []
  const spans = jobs.map((job) => {
    const start = requests.length
    if (job.record) requests.push(read(eventStatus, { projectId: job.record.event.projectId, mode: job.record.event.mode, id: job.record.event.id }))
    for (const e of job.effects) requests.push(...e.reads)
    return start
  })
  const rows = requests.length > 0 ? await runRows<Record<string, unknown>>(db, readStatement(EFFECT_KINDS, requests)) : []
  const results = parseReads(EFFECT_KINDS, requests, rows)
  return jobs.map((job, j): JobPlan => {
    let at = spans[j] ?? 0
    if (job.record) {
      const status = results[at++] as string | null
      if (!job.record.force && isSettledStatus(status)) return { outcome: 'duplicate' }
    }
    try {
      const guards: Guard[] = []
      const writes: Write[] = job.record ? [write(eventRecords, job.record)] : []
      for (const e of job.effects) {
        const plan = e.plan(results.slice(at, at + e.reads.length), ctx)
        at += e.reads.length
        if (!plan) continue
        guards.push(...plan.guards)
        writes.push(...plan.writes)
      }
      return { outcome: 'write', guards, writes }
    } catch (error) {
      return { outcome: 'error', error }
    }
  })
}

/** Writes the plans of a batch in one statement. A changed row, an event recorded meanwhile or an id taken: a write conflict, nothing written. */
export async function writePlans (db: Executor, plans: ReadonlyArray<{ guards: readonly Guard[], writes: readonly Write[] }>): Promise<void> {
  const writes = plans.flatMap((p) => p.writes)
  if (writes.length === 0) return
  await runRows(db, writeStatement(EFFECT_KINDS, plans.flatMap((p) => p.guards), writes))
}

/** One job as a batch of one: read, plan, write; again on fresh reads after a write conflict. */
export async function applyJob (db: Executor, job: Job, ctx: PlanContext, attempts?: number): Promise<JobOutcome> {
  return retryOnConflict(async () => {
    const [plan] = await planJobs(db, [job], ctx)
    if (!plan || plan.outcome === 'duplicate') return 'duplicate'
    if (plan.outcome === 'error') throw plan.error
    await writePlans(db, [plan])
    return job.record?.status ?? 'processed'
  }, attempts)
}
