import type Stripe from 'stripe'
import type { Executor } from '../../platform/db/client.ts'
import { WriteConflict } from '../../platform/db/conflicts.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { StatsScope } from '../../modules/stats/repository.ts'
import { isSettledStatus, type EventRecordWrite } from '../repository.ts'
import type { TransactionFacts } from '../../modules/payments/transaction-model.ts'
import type { HandledEventType } from '../registry.ts'

type EventMap = { [K in HandledEventType]: Extract<Stripe.Event, { type: K }> }
export type EventOf<T extends HandledEventType> = EventMap[T]
export type HandledEvent = EventOf<HandledEventType>

/**
 * The event a single-write handler records in the same statement as its one write (so the event and
 * its effects commit together without a transaction around them). `outcome` says what that statement
 * did; null when the handler wrote nothing (the pipeline then records the event on its own).
 */
export interface PendingRecord extends EventRecordWrite {
  outcome: 'recorded' | 'duplicate' | null
}

/** What a handler gets: where to read and write, and who the event is for. Nothing of Fastify. */
export interface HandlerContext {
  /** The open transaction, or (single-write handlers) the database itself. */
  tx: Executor
  /** Set for single-write handlers: the event is not recorded yet, the handler's guarded write records it. */
  record: PendingRecord | null
  project: { id: string, developerId: string }
  mode: Mode
  event: { id: string, created: number }
  /** The stats row this event's deltas go to (spreads one busy project's writes). */
  shard: number
}

export const statsScope = (ctx: HandlerContext): StatsScope =>
  ({ developerId: ctx.project.developerId, projectId: ctx.project.id, mode: ctx.mode, shard: ctx.shard })

/**
 * What a single-write handler asks of the apply step, decided from the payload alone: merge what the
 * event says about a payment, or apply a subscription state (`fresh`: re-read from Stripe just now).
 * Applying it (read, merge, one guarded write) is the same for every type, alone or in a batch.
 */
export type WriteIntent =
  | { kind: 'transaction', facts: TransactionFacts }
  | { kind: 'subscription', subscription: Stripe.Subscription, fresh: boolean }

/** Who an event is for: what a handler needs to read a payload (metadata is trusted only for this project and mode). */
export interface IntentScope {
  project: { id: string, developerId: string }
  mode: Mode
  event: { id: string, created: number }
}

interface HandlerBase<T extends HandledEventType, P> {
  /** `reason` is 'payload' before the first attempt (answer undefined when nothing is needed), 'refetch' after the handler threw RefetchRequired. */
  prefetch? (event: EventOf<T>, stripe: () => Promise<Stripe>, reason: 'payload' | 'refetch'): Promise<P | undefined>
}

/**
 * A handler whose whole effect is one guarded write (applyTransactionFacts, applySubscription) that
 * records the event in the same statement: no transaction, and concurrent events are applied in
 * batches (webhooks/batcher.ts). `intent` is pure; null: nothing to write (the event is recorded alone).
 */
export interface SingleWriteHandler<T extends HandledEventType, P = undefined> extends HandlerBase<T, P> {
  singleWrite: true
  intent (scope: IntentScope, event: EventOf<T>, prefetched: P | undefined): WriteIntent | null
}

/** A handler that needs several writes: it runs in a transaction that first records the event. */
export interface TransactionalHandler<T extends HandledEventType, P = undefined> extends HandlerBase<T, P> {
  singleWrite: false
  handle (ctx: HandlerContext, event: EventOf<T>, prefetched: P | undefined): Promise<void>
}

/**
 * One module per event type. `prefetch` runs before any write when the payload lacks something: never
 * a network call while a transaction is open.
 */
export type WebhookHandler<T extends HandledEventType, P = undefined> = SingleWriteHandler<T, P> | TransactionalHandler<T, P>

/** Thrown before any write when the payload cannot decide (a same-second tie): nothing is written; re-read from Stripe, run again. */
export class RefetchRequired extends Error {
  constructor (what: string) {
    super(`${what}: the payload cannot decide; re-reading it from Stripe`)
    this.name = 'RefetchRequired'
  }
}

/**
 * A handler's read saw the event already processed (another delivery won): nothing to write. Only for
 * single-write handlers outside a replay; inside a transaction the event row is already ours.
 */
export function alreadyRecorded (ctx: HandlerContext, eventStatus: string | null): boolean {
  if (!ctx.record || ctx.record.force || !isSettledStatus(eventStatus)) return false
  ctx.record.outcome = 'duplicate'
  return true
}

/** What a guarded write did: a conflict runs the handler again; otherwise the pending record's outcome. */
export function settleWrite (ctx: HandlerContext, what: string, result: { ok: boolean, recorded: boolean }): void {
  if (!result.ok) throw new WriteConflict(what)
  if (ctx.record) ctx.record.outcome = result.recorded ? 'recorded' : 'duplicate'
}

/** The event-record insert a guarded write must carry, once; null inside a transaction. */
export function pendingRecord (ctx: HandlerContext): PendingRecord | null {
  if (ctx.record?.outcome) throw new Error('a single-write handler wrote twice')
  return ctx.record
}

/** Shard of an event: a stable hash of its id. */
export function shardOf (eventId: string, shards: number): number {
  let h = 2166136261
  for (let i = 0; i < eventId.length; i++) {
    h ^= eventId.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return (h >>> 0) % shards
}

export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id

export const fromUnix = (seconds: number | null | undefined): Date | null =>
  typeof seconds === 'number' && seconds > 0 ? new Date(seconds * 1000) : null

const END_USER_ID = /^[\x21-\x7e]{1,128}$/

/** The end user our checkout put in the metadata, if it was put there for this project. */
export function endUserFromMetadata (metadata: Stripe.Metadata | null | undefined, projectId: string, mode: Mode): string | null {
  if (!metadata) return null
  const id = metadata.end_user_id
  if (typeof id !== 'string' || !END_USER_ID.test(id)) return null
  if (metadata.project_id !== undefined && metadata.project_id !== projectId) return null
  if (metadata.mode !== undefined && metadata.mode !== mode) return null
  return id
}

export const validEndUserId = (id: string | null | undefined): string | null =>
  typeof id === 'string' && END_USER_ID.test(id) ? id : null
