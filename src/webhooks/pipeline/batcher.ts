import { randomInt } from 'node:crypto'
import type { Executor } from '../../platform/db/client.ts'
import { isWriteConflict, sqlStateOf } from '../../platform/db/conflicts.ts'
import { STATS_SHARDS } from '../../modules/stats/repository.ts'
import { readBatch, readEventStatuses, writeBatch, type BatchRead, type BatchReadKey, type BatchWrite, type EventKey } from './statement.ts'
import { isSettledStatus, type EventRecord } from '../repository.ts'
import { customerToLookUp, planTransactionRead } from '../../modules/payments/transaction-model.ts'
import { planSubscription } from '../../modules/payments/subscription-model.ts'
import { idOf, type IntentScope, type WriteIntent } from './context.ts'

/** An event whose handler decided its write from the payload: applied with others that arrive meanwhile. */
export interface ApplyJob {
  scope: IntentScope
  record: EventRecord
  intent: WriteIntent | null
}

export type BatchOutcome = 'processed' | 'duplicate'

interface Pending {
  job: ApplyJob
  keys: string[]
  resolve (outcome: BatchOutcome): void
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
}

/** Conflicts in shared batches before a job runs alone; then as many again alone before it fails (Stripe retries). */
const SHARED_CONFLICTS = 2
const SOLO_CONFLICTS = 8

/**
 * Group commit for webhooks. Each event still gets its own verified request and its own answer, but
 * the events that arrive while earlier batches are in the database are read in ONE statement, merged
 * in TypeScript, and written in ONE guarded statement (repositories/webhook-batch.ts); a request is
 * answered only after the statement holding its event committed. With no load a batch is one event, so
 * latency does not grow; under load, the per-statement cost is shared by the whole batch.
 *
 * - Events that touch the same Stripe object never share a batch, nor run in two batches at once:
 *   a later one waits for the next batch (so one instance never conflicts with itself).
 * - Each running batch writes its stats to its own shard, so concurrent batches never queue on a
 *   stats row (readers sum the shards).
 * - A conflict with another instance (a row changed, an event recorded meanwhile, an id taken) writes
 *   nothing: the batch's events are read and merged again. Any other failure of a shared batch runs
 *   its events one by one, so one bad event cannot fail the others.
 */
export class WebhookBatcher {
  private readonly queue: Pending[] = []
  /** Keys of the events in running batches. */
  private readonly busy = new Set<string>()
  /** Free stats shards, one per running batch; each instance starts at a random one. */
  private readonly shards: number[]
  private running = 0
  /** Batches written, the events they held, and batches that hit a write conflict (for the bench and the tests). */
  readonly counters = { batches: 0, events: 0, conflicts: 0 }
  /** Status lookups waiting for the next query, and whether one is in flight. */
  private lookups: Array<{ key: EventKey, resolve (settled: boolean): void, reject (err: unknown): void }> = []
  private looking = false

  constructor (private readonly db: Executor, private readonly options: BatcherOptions) {
    const start = randomInt(STATS_SHARDS)
    this.shards = Array.from({ length: STATS_SHARDS }, (_, i) => (start + i) % STATS_SHARDS)
  }

  /** Applies one event; answers once its batch committed. Throws RefetchRequired, a handler error, or the database error. */
  apply (job: ApplyJob): Promise<BatchOutcome> {
    return new Promise<BatchOutcome>((resolve, reject) => {
      this.queue.push({ job, keys: keysOf(job), resolve, reject, conflicts: 0, solo: false })
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
      const shard = this.shards.shift() ?? 0
      this.running++
      for (const p of batch) for (const k of p.keys) this.busy.add(k)
      void this.run(batch, shard).finally(() => {
        for (const p of batch) for (const k of p.keys) this.busy.delete(k)
        this.shards.push(shard)
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

  private async run (batch: Pending[], shard: number): Promise<void> {
    let reads: BatchRead[]
    try {
      reads = await readBatch(this.db, batch.map((p) => readKeyOf(p.job)))
    } catch (err) {
      this.failed(batch, err)
      return
    }
    const writes: BatchWrite[] = []
    const included: Pending[] = []
    const rows = new Set<string>()
    batch.forEach((p, i) => {
      const read = reads[i] as BatchRead
      if (isSettledStatus(read.eventStatus)) { p.resolve('duplicate'); return }
      let write: BatchWrite
      try {
        write = writeOf(p.job, read, shard)
      } catch (err) {
        p.reject(err)
        return
      }
      // Two events whose different ids reach the same row (an invoice and its payment intent): the later one waits.
      const touched = rowsOf(write)
      if (touched.some((id) => rows.has(id))) { this.requeue([p]); return }
      for (const id of touched) rows.add(id)
      writes.push(write)
      included.push(p)
    })
    if (writes.length === 0) return
    try {
      await writeBatch(this.db, writes)
      this.counters.batches++
      this.counters.events += writes.length
    } catch (err) {
      if (isWriteConflict(err)) this.counters.conflicts++
      this.failed(included, err)
      return
    }
    for (const p of included) p.resolve('processed')
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

/** A failure of the database itself (connection lost, server shutting down, out of resources), not of the events. */
function isDatabaseUnavailable (err: unknown): boolean {
  const state = sqlStateOf(err)
  if (state) return /^(08|53|57|58)/.test(state)
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(CONNECT|ECONN|EPIPE|ETIMEDOUT)/.test(code)
}

/** The Stripe objects an event writes (and its own id): events sharing one are applied one after the other. */
function keysOf (job: ApplyJob): string[] {
  const scope = `${job.scope.project.id}|${job.scope.mode}`
  const keys = [`evt|${scope}|${job.record.id}`]
  const intent = job.intent
  if (intent?.kind === 'transaction') {
    const k = intent.facts.keys
    if (k.checkoutSessionId) keys.push(`cs|${scope}|${k.checkoutSessionId}`)
    if (k.paymentIntentId) keys.push(`pi|${scope}|${k.paymentIntentId}`)
    if (k.invoiceId) keys.push(`in|${scope}|${k.invoiceId}`)
    if (k.chargeId) keys.push(`ch|${scope}|${k.chargeId}`)
  } else if (intent?.kind === 'subscription') {
    keys.push(`sub|${scope}|${intent.subscription.id}`)
  }
  return keys
}

function readKeyOf (job: ApplyJob): BatchReadKey {
  const base = { projectId: job.scope.project.id, mode: job.scope.mode, eventId: job.record.id }
  const intent = job.intent
  if (intent?.kind === 'transaction') return { ...base, customerId: customerToLookUp(intent.facts), subscriptionId: null, keys: intent.facts.keys }
  if (intent?.kind === 'subscription') return { ...base, customerId: idOf(intent.subscription.customer), subscriptionId: intent.subscription.id, keys: {} }
  return { ...base, customerId: null, subscriptionId: null, keys: {} }
}

/** The event's record and its row change (none when the event changes nothing), planned on what the batch read. */
function writeOf (job: ApplyJob, read: BatchRead, shard: number): BatchWrite {
  const scope = { developerId: job.scope.project.developerId, projectId: job.scope.project.id, mode: job.scope.mode, shard }
  const intent = job.intent
  if (intent?.kind === 'transaction') {
    return { record: job.record, scope, transaction: planTransactionRead(read, intent.facts, job.scope.event.created) ?? undefined }
  }
  if (intent?.kind === 'subscription') {
    const plan = planSubscription(job.scope, { stored: read.subscription, customerEndUserId: read.customerEndUserId }, intent.subscription, intent.fresh)
    return { record: job.record, scope, subscription: plan ?? undefined }
  }
  return { record: job.record, scope }
}

const rowsOf = (write: BatchWrite): string[] => [
  ...(write.transaction?.keep ? [write.transaction.keep.id, ...write.transaction.others.map((r) => r.id)] : []),
  ...(write.subscription?.stored ? [write.subscription.stored.id] : []),
]
