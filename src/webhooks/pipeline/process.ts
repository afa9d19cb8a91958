import type Stripe from 'stripe'
import type { Db } from '../../platform/db/client.ts'
import { retryOnConflict } from '../../platform/db/conflicts.ts'
import { RefetchRequired, slotOf, type EffectScope } from '../../platform/db/effects.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { EventDefinition } from '../event.ts'
import { definitionOf, type HandledEventType } from '../registry.ts'
import { readEventStatuses, recordFailure, type EventRecord, type EventRecordWrite } from '../repository.ts'
import { applyJob, type Job, type JobOutcome } from './apply.ts'
import type { WebhookBatcher } from './batcher.ts'

export type ProcessOutcome = JobOutcome

export interface ProcessInput {
  project: { id: string, developerId: string }
  mode: Mode
  event: Stripe.Event
  /** The raw JSON text, stored as the event's payload. */
  payload: string
  /** The project's client for this mode, resolved only if an event definition needs to read from Stripe. */
  stripe: () => Promise<Stripe>
  /** Replay: apply the event even if it was already processed (effects are idempotent). */
  force?: boolean
  /** Apply the event together with concurrent ones (the webhook route); unset: as a batch of its own. */
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

/** Slots an event applied outside a batcher may land on (the stats shards it spreads over). */
const SOLO_SLOTS = 8

/** A short, secret-free description of a failure, for the event list (never a stack). */
export function shortError (err: unknown): string {
  const raw = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return raw.replace(/\b(sk|rk|pk|whsec)_[A-Za-z0-9_]+/g, '$1_[redacted]').replace(/\s+/g, ' ').slice(0, 500)
}

/**
 * Reads what the payload lacks (the definition's prefetch from the payload, and again from Stripe when
 * the write finds it stale: RefetchRequired), then runs the attempt; a write conflict runs it again
 * (up to `tries`, retryOnConflict's default when unset).
 */
async function withPrefetch<R> (
  definition: EventDefinition<HandledEventType, unknown> | undefined, event: Parameters<EventDefinition<HandledEventType, unknown>['effects']>[1],
  stripe: () => Promise<Stripe>, attempt: (prefetched: unknown) => Promise<R>, tries?: number,
): Promise<R> {
  let prefetched = definition?.prefetch ? await definition.prefetch(event, stripe, 'payload') : undefined
  return retryOnConflict(async () => {
    try {
      return await attempt(prefetched)
    } catch (err) {
      if (!(err instanceof RefetchRequired) || !definition?.prefetch) throw err
      prefetched = await definition.prefetch(event, stripe, 'refetch')
      return await attempt(prefetched)
    }
  }, tries)
}

/**
 * Records the event and applies its effects atomically; answers only after the commit. A duplicate
 * (already processed or ignored) does nothing.
 *
 * The event's definition turns the payload into effects (after reading from Stripe, when the payload
 * lacks something: never while a statement holds locks). The event's record and every effect's
 * writes go in one statement (pipeline/apply.ts), with concurrent events when a batcher is given,
 * else as a batch of one: the same two statements either way. A type nothing handles is recorded as
 * ignored the same way, with no effects.
 *
 * A write conflict (rows changed since the read, an id taken concurrently, a deadlock) runs the read
 * and plan again. A failure changes nothing, is remembered outside as `failed` (with attempts and a
 * short error), and is thrown so the caller answers 5xx and Stripe retries.
 */
export async function processEvent (db: Db, input: ProcessInput): Promise<ProcessOutcome> {
  const { event, project, mode } = input
  const definition = definitionOf(event.type)
  const record: EventRecord = { projectId: project.id, mode, id: event.id, type: event.type, created: event.created, payload: input.payload }
  const force = input.force ?? false
  const scope: EffectScope = { project, mode, event: { id: event.id, created: event.created } }
  const narrowed = event as Parameters<NonNullable<typeof definition>['effects']>[1]

  const attempt = (prefetched: unknown): Promise<JobOutcome> => {
    const write: EventRecordWrite = { event: record, status: definition ? 'processed' : 'ignored', force }
    const job: Job = { record: write, effects: definition ? definition.effects(scope, narrowed, prefetched) : [] }
    // A replay runs alone: it must not wait behind, nor be merged with, the live traffic.
    if (input.batcher && !force) return input.batcher.apply(job)
    return applyJob(db, job, { slot: slotOf(event.id, SOLO_SLOTS) }, 1)
  }

  // Before any read from Stripe, one indexed lookup tells whether the event is a duplicate (Stripe
  // redelivers often), sparing the network call. The write still decides for certain.
  const stripe = async (): Promise<Stripe> => {
    if (!force) {
      const key = { projectId: project.id, mode, eventId: event.id }
      const settled = input.batcher ? await input.batcher.isSettled(key) : (await readEventStatuses(db, [key]))[0]
      if (settled === true || (typeof settled === 'string' && settled !== 'failed')) throw new AlreadySettled()
    }
    return input.stripe()
  }

  try {
    // A batched apply already reads and plans again after a conflict (pipeline/batcher.ts); a batch of one retries here.
    return await withPrefetch(definition, narrowed, stripe, attempt, input.batcher && !force ? 1 : undefined)
  } catch (err) {
    if (err instanceof AlreadySettled) return 'duplicate'
    await recordFailure(db, record, shortError(err))
    throw new WebhookProcessingError(event.id, err)
  }
}

export interface StateInput {
  project: { id: string, developerId: string }
  mode: Mode
  /**
   * An event made from an object's current state as Stripe returns it now (a resync's `full` walk):
   * it is not recorded (it was never sent), and its `created` says how new that state is, so the
   * same out-of-order guards as a delivered event's decide whether it changes anything.
   */
  event: Stripe.Event
  stripe: () => Promise<Stripe>
}

/**
 * Applies an object's state through its event type's definition, exactly as processEvent does but
 * without an event record: the effects are idempotent (a replay relies on it too), so applying the
 * same state twice changes nothing the second time.
 */
export async function applyState (db: Db, input: StateInput): Promise<'applied' | 'ignored'> {
  const { event, project, mode } = input
  const definition = definitionOf(event.type)
  if (!definition) return 'ignored'
  const scope: EffectScope = { project, mode, event: { id: event.id, created: event.created } }
  const narrowed = event as Parameters<typeof definition.effects>[1]
  const run = (prefetched: unknown) => applyJob(db, { record: null, effects: definition.effects(scope, narrowed, prefetched) }, { slot: slotOf(event.id, SOLO_SLOTS) }, 1)
  await withPrefetch(definition, narrowed, input.stripe, run)
  return 'applied'
}
