import type Stripe from 'stripe'
import type { Tx } from '../db/client.ts'
import type { Mode } from '../lib/stripe.ts'
import type { StatsScope } from '../repositories/stats.ts'
import type { HandledEventType } from './event-types.ts'

type EventMap = { [K in HandledEventType]: Extract<Stripe.Event, { type: K }> }
export type EventOf<T extends HandledEventType> = EventMap[T]
export type HandledEvent = EventOf<HandledEventType>

/** What a handler gets: the open transaction and who the event is for. Nothing of Fastify. */
export interface HandlerContext {
  tx: Tx
  project: { id: string, developerId: string }
  mode: Mode
  event: { id: string, created: number }
  /** The stats row this event's deltas go to (spreads one busy project's writes). */
  shard: number
}

export const statsScope = (ctx: HandlerContext): StatsScope =>
  ({ developerId: ctx.project.developerId, projectId: ctx.project.id, mode: ctx.mode, shard: ctx.shard })

/**
 * One module per event type. `lockKeys` name the Stripe objects the handler writes (taken as advisory
 * locks with the event record, so two events for one object apply one after the other). `prefetch`
 * runs BEFORE the transaction when the payload lacks something: never a network call inside it.
 */
export interface WebhookHandler<T extends HandledEventType, P = undefined> {
  lockKeys (event: EventOf<T>, prefetched: P | undefined): string[]
  /** `reason` is 'payload' before the first attempt (answer undefined when nothing is needed), 'refetch' after the handler threw RefetchRequired. */
  prefetch? (event: EventOf<T>, stripe: () => Promise<Stripe>, reason: 'payload' | 'refetch'): Promise<P | undefined>
  handle (ctx: HandlerContext, event: EventOf<T>, prefetched: P | undefined): Promise<void>
}

/** Thrown inside the transaction when the payload cannot decide (a same-second tie): roll back, re-read from Stripe, run again. */
export class RefetchRequired extends Error {
  constructor (what: string) {
    super(`${what}: the payload cannot decide; re-reading it from Stripe`)
    this.name = 'RefetchRequired'
  }
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
