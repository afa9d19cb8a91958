import type { TSchema } from '@sinclair/typebox'
import type Stripe from 'stripe'
import type { Effect, EffectScope } from '../platform/db/effects.ts'

export type EventType = Stripe.Event['type']
export type EventOf<T extends EventType> = Extract<Stripe.Event, { type: T }>

/**
 * What the platform does with one event type: one file per type under events/, listed in
 * registry.ts. It knows nothing of Fastify nor of the database: it turns a verified event into
 * effects, which the pipeline reads, plans and writes with the event's record in one statement.
 */
export interface EventDefinition<T extends EventType, P = undefined> {
  /**
   * What the effects read from `data.object`. A signed event whose object does not match is refused
   * with 400 before anything is recorded: retrying it could never succeed.
   */
  object: TSchema
  /**
   * Runs before anything is read or written when the payload lacks something (never a network call
   * while a statement holds locks). `reason` is 'payload' before the first attempt (answer undefined
   * when nothing is needed), 'refetch' after a plan threw RefetchRequired.
   */
  prefetch? (event: EventOf<T>, stripe: () => Promise<Stripe>, reason: 'payload' | 'refetch'): Promise<P | undefined>
  /** Pure: what the event means, domain by domain. An empty list records the event with nothing else. */
  effects (scope: EffectScope, event: EventOf<T>, prefetched: P | undefined): Effect[]
}
