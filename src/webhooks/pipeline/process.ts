import type Stripe from 'stripe'
import type { Db } from '../../platform/db/client.ts'
import { retryOnConflict } from '../../platform/db/conflicts.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { STATS_SHARDS } from '../../modules/stats/repository.ts'
import { isSettled, recordEvent, recordFailure, type EventRecord } from '../repository.ts'
import { applySubscription } from '../../modules/payments/subscription-model.ts'
import { applyTransactionFacts } from '../../modules/payments/transaction-model.ts'
import type { WebhookBatcher } from './batcher.ts'
import { RefetchRequired, shardOf, type HandledEvent, type HandlerContext, type IntentScope, type PendingRecord, type WebhookHandler, type WriteIntent } from './context.ts'
import { HANDLED_EVENT_TYPES, type HandledEventType } from '../registry.ts'
import { handlers } from '../events/index.ts'

export type ProcessOutcome = 'processed' | 'ignored' | 'duplicate'

export interface ProcessInput {
  project: { id: string, developerId: string }
  mode: Mode
  event: Stripe.Event
  /** The raw JSON text, stored as the event's payload. */
  payload: string
  /** The project's client for this mode, resolved only if a handler needs to read from Stripe. */
  stripe: () => Promise<Stripe>
  /** Replay: run the handler even if the event was already processed (handlers are idempotent). */
  force?: boolean
  /** Apply single-write events together with concurrent ones (the webhook route); unset: one by one. */
  batcher?: WebhookBatcher | undefined
}

/** Raised when processing failed; the failure is already recorded. `cause` has the details for the log. */
export class WebhookProcessingError extends Error {
  constructor (readonly eventId: string, cause: unknown) {
    super(`processing event ${eventId} failed`, { cause })
    this.name = 'WebhookProcessingError'
  }
}

class AlreadySettled extends Error {}

const handled = new Set<string>(HANDLED_EVENT_TYPES)
const isHandled = (type: string): type is HandledEventType => handled.has(type)

/** A short, secret-free description of a failure, for the event list (never a stack). */
export function shortError (err: unknown): string {
  const raw = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return raw.replace(/\b(sk|rk|pk|whsec)_[A-Za-z0-9_]+/g, '$1_[redacted]').replace(/\s+/g, ' ').slice(0, 500)
}

/** A single-write handler's intent, applied on its own: read, merge, one guarded write. */
async function applyIntent (ctx: HandlerContext, intent: WriteIntent | null): Promise<void> {
  if (intent?.kind === 'transaction') await applyTransactionFacts(ctx, intent.facts)
  else if (intent?.kind === 'subscription') await applySubscription(ctx, intent.subscription, intent.fresh)
}

/**
 * Records the event and applies its effects atomically; answers only after the commit. A duplicate
 * (already processed or ignored) does nothing.
 *
 * - A single-write handler (most types) reads, computes, and writes once: that one statement also
 *   records the event, and is guarded against rows changed since the read. Two round trips, no
 *   transaction held open across them. With a batcher, concurrent events share those two statements.
 * - Any other handler runs in a transaction that first records the event; its writes are guarded
 *   the same way, so a concurrent single-write handler and it never overwrite each other.
 *
 * A write conflict (rows changed under a guarded write, a unique id taken concurrently, a deadlock)
 * runs the attempt again on fresh reads. A failure changes nothing, is remembered outside as `failed`
 * (with attempts and a short error), and is thrown so the caller answers 5xx and Stripe retries.
 */
export async function processEvent (db: Db, input: ProcessInput): Promise<ProcessOutcome> {
  const { event, project, mode } = input
  const handler: WebhookHandler<HandledEventType, unknown> | undefined = isHandled(event.type) ? handlers[event.type] : undefined
  const narrowed = event as HandledEvent
  const record: EventRecord = { projectId: project.id, mode, id: event.id, type: event.type, created: event.created, payload: input.payload }
  const force = input.force ?? false
  const shard = shardOf(event.id, STATS_SHARDS)
  const scope: IntentScope = { project, mode, event: { id: event.id, created: event.created } }
  const context = (tx: HandlerContext['tx'], pending: PendingRecord | null): HandlerContext => ({ ...scope, tx, record: pending, shard })

  const attempt = async (prefetched: unknown): Promise<ProcessOutcome> => {
    if (!handler) return (await recordEvent(db, record, 'ignored', force)) ? 'ignored' : 'duplicate'
    if (handler.singleWrite) {
      const intent = handler.intent(scope, narrowed, prefetched)
      if (input.batcher && !force) return await input.batcher.apply({ scope, record, intent })
      const pending: PendingRecord = { event: record, force, outcome: null }
      await applyIntent(context(db, pending), intent)
      // The handler had nothing to write (its state is already there): the event is recorded alone.
      pending.outcome ??= (await recordEvent(db, record, 'processed', force)) ? 'recorded' : 'duplicate'
      return pending.outcome === 'recorded' ? 'processed' : 'duplicate'
    }
    return db.transaction(async (tx) => {
      const recorded = await recordEvent(tx, record, 'processed', force)
      if (!recorded) return 'duplicate'
      await handler.handle(context(tx, null), narrowed, prefetched)
      return 'processed'
    })
  }

  // Before any read from Stripe, one indexed lookup tells whether the event is a duplicate (Stripe
  // redelivers often), sparing the network call. The write still decides for certain.
  const stripe = async (): Promise<Stripe> => {
    if (!input.force) {
      const settled = input.batcher
        ? await input.batcher.isSettled({ projectId: project.id, mode, eventId: event.id })
        : await isSettled(db, project.id, mode, event.id)
      if (settled) throw new AlreadySettled()
    }
    return input.stripe()
  }

  try {
    // Reads from Stripe happen here, before any write: no network call while a transaction holds locks.
    let prefetched = handler?.prefetch ? await handler.prefetch(narrowed, stripe, 'payload') : undefined
    // A batched apply already reads and merges again after a conflict (webhooks/batcher.ts); only the
    // one-by-one paths retry here.
    const batched = input.batcher !== undefined && !force && handler?.singleWrite === true
    return await retryOnConflict(async () => {
      try {
        return await attempt(prefetched)
      } catch (err) {
        if (!(err instanceof RefetchRequired) || !handler?.prefetch) throw err
        prefetched = await handler.prefetch(narrowed, stripe, 'refetch')
        return await attempt(prefetched)
      }
    }, batched ? 1 : undefined)
  } catch (err) {
    if (err instanceof AlreadySettled) return 'duplicate'
    await recordFailure(db, record, shortError(err))
    throw new WebhookProcessingError(event.id, err)
  }
}
