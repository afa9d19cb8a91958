import { randomInt } from 'node:crypto'
import type { Executor } from '../../platform/db/client.ts'
import { isDatabaseUnavailable, isWriteConflict } from '../../platform/db/conflicts.ts'
import { isSettledStatus, readEventStatuses, type EventKey } from '../repository.ts'
import { lockKeysOf, planJobs, writePlans, type Job, type JobOutcome, type JobPlan } from './apply.ts'

interface Pending {
  job: Job
  keys: string[]
  resolve (outcome: JobOutcome): void
  reject (err: unknown): void
  /** Batches this job was in that hit a write conflict. */
  conflicts: number
  /** Run alone: it was in a batch that failed for a reason other than a conflict, or it keeps conflicting. */
  solo: boolean
}

export interface BatcherOptions {
  /** Batches in flight at once (each holds one connection for its two statements). */
  concurrency: number
  /** Events in one batch at most. */
  maxBatch: number
  /** Slots the running batches take turns on (the stats shards): two batches in flight never share one. */
  slots: number
}

/** Conflicts in shared batches before a job runs alone; then as many again alone before it fails (Stripe retries). */
const SHARED_CONFLICTS = 2
const SOLO_CONFLICTS = 8

/**
 * Group commit for webhooks. Each event still gets its own verified request and its own answer, but
 * the events that arrive while earlier batches are in the database are read in ONE statement, planned
 * in TypeScript, and written in ONE guarded statement (apply.ts); a request is answered only after
 * the statement holding its event committed. With no load a batch is one event, so
 * latency does not grow; under load, the per-statement cost is shared by the whole batch.
 *
 * - Events whose effects share a lock key (a Stripe object) never share a batch, nor run in two batches at once:
 *   a later one waits for the next batch (so one instance never conflicts with itself).
 * - Each running batch plans on its own slot (effects put their stats on that shard), so concurrent
 *   batches never queue on a stats row (readers sum the shards).
 * - A conflict with another instance (a row changed, an event recorded meanwhile, an id taken) writes
 *   nothing: the batch's events are read and merged again. Any other failure of a shared batch runs
 *   its events one by one, so one bad event cannot fail the others.
 */
export class WebhookBatcher {
  private readonly queue: Pending[] = []
  /** Keys of the events in running batches. */
  private readonly busy = new Set<string>()
  /** Free slots, one per running batch; each instance starts at a random one. */
  private readonly slots: number[]
  private running = 0
  /** Batches written, the events they held, and batches that hit a write conflict (for the bench and the tests). */
  readonly counters = { batches: 0, events: 0, conflicts: 0 }
  /** Status lookups waiting for the next query, and whether one is in flight. */
  private lookups: Array<{ key: EventKey, resolve (settled: boolean): void, reject (err: unknown): void }> = []
  private looking = false

  constructor (private readonly db: Executor, private readonly options: BatcherOptions) {
    const start = randomInt(options.slots)
    this.slots = Array.from({ length: options.slots }, (_, i) => (start + i) % options.slots)
  }

  /** Applies one event; answers once its batch committed. Throws RefetchRequired, an effect's error, or the database error. */
  apply (job: Job): Promise<JobOutcome> {
    return new Promise<JobOutcome>((resolve, reject) => {
      this.queue.push({ job, keys: lockKeysOf(job), resolve, reject, conflicts: 0, solo: false })
      this.pump()
    })
  }

  /**
   * Whether the event is already processed or ignored (a duplicate): the lookups that arrive while one
   * query is in flight go together in the next. It spares a duplicate its read from Stripe.
   */
  isSettled (key: EventKey): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.lookups.push({ key, resolve, reject })
      void this.lookUp()
    })
  }

  private async lookUp (): Promise<void> {
    if (this.looking || this.lookups.length === 0) return
    this.looking = true
    const waiting = this.lookups.splice(0, this.options.maxBatch)
    try {
      const statuses = await readEventStatuses(this.db, waiting.map((w) => w.key))
      waiting.forEach((w, i) => w.resolve(isSettledStatus(statuses[i])))
    } catch (err) {
      for (const w of waiting) w.reject(err)
    } finally {
      this.looking = false
      void this.lookUp()
    }
  }

  private pump (): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const batch = this.take()
      if (batch.length === 0) return
      const slot = this.slots.shift() ?? 0
      this.running++
      for (const p of batch) for (const k of p.keys) this.busy.add(k)
      void this.run(batch, slot).finally(() => {
        for (const p of batch) for (const k of p.keys) this.busy.delete(k)
        this.slots.push(slot)
        this.running--
        this.pump()
      })
    }
  }

  /** The oldest waiting events that share no Stripe object with each other or with a running batch. */
  private take (): Pending[] {
    const batch: Pending[] = []
    const taken = new Set<string>()
    for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch; i++) {
      const p = this.queue[i] as Pending
      if (p.keys.some((k) => this.busy.has(k) || taken.has(k))) continue
      if (p.solo && batch.length > 0) continue
      batch.push(p)
      for (const k of p.keys) taken.add(k)
      this.queue.splice(i--, 1)
      if (p.solo) break
    }
    return batch
  }

  private requeue (jobs: Pending[]): void {
    this.queue.unshift(...jobs)
  }

  private async run (batch: Pending[], slot: number): Promise<void> {
    let plans: JobPlan[]
    try {
      plans = await planJobs(this.db, batch.map((p) => p.job), { slot })
    } catch (err) {
      this.failed(batch, err)
      return
    }
    const writes: Array<Extract<JobPlan, { outcome: 'write' }>> = []
    const included: Pending[] = []
    const rows = new Set<string>()
    batch.forEach((p, i) => {
      const plan = plans[i] as JobPlan
      if (plan.outcome === 'duplicate') { p.resolve('duplicate'); return }
      if (plan.outcome === 'error') { p.reject(plan.error); return }
      // Two events whose different ids reach the same row (an invoice and its payment intent): the later one waits.
      const touched = plan.guards.map((g) => `${g.table}|${g.id}`)
      if (touched.some((id) => rows.has(id))) { this.requeue([p]); return }
      for (const id of touched) rows.add(id)
      writes.push(plan)
      included.push(p)
    })
    if (writes.length === 0) return
    try {
      await writePlans(this.db, writes)
      this.counters.batches++
      this.counters.events += writes.length
    } catch (err) {
      if (isWriteConflict(err)) this.counters.conflicts++
      this.failed(included, err)
      return
    }
    for (const p of included) p.resolve(p.job.record?.status ?? 'processed')
  }

  private failed (batch: Pending[], err: unknown): void {
    if (isWriteConflict(err)) {
      const again: Pending[] = []
      for (const p of batch) {
        p.conflicts++
        if (p.conflicts >= SHARED_CONFLICTS) p.solo = true
        if (p.conflicts >= SHARED_CONFLICTS + SOLO_CONFLICTS) p.reject(err)
        else again.push(p)
      }
      this.requeue(again)
      return
    }
    // The database is unreachable: every delivery answers 5xx now, and Stripe delivers it again.
    if (batch.length === 1 || isDatabaseUnavailable(err)) {
      for (const p of batch) p.reject(err)
      return
    }
    // Something in one event (a value the database refused): run them one by one, so only that one fails.
    for (const p of batch) p.solo = true
    this.requeue(batch)
  }
}
