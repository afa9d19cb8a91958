import type Stripe from 'stripe'
import type { Mode } from '../../platform/stripe/client.ts'
import { idOf } from '../../platform/stripe/objects.ts'
import type { stripeSyncs } from '../../platform/db/schema.ts'

export type StripeSyncRow = typeof stripeSyncs.$inferSelect

/** Stripe keeps an account's events for 30 days: a sync replays from at most that far back. */
export const EVENT_RETENTION_SECONDS = 30 * 86_400

/**
 * Reads per second a sync allows itself. Stripe's limits are about 25 read requests per second in
 * test mode and 100 in live mode per account; a sync keeps a fifth of that for the requests the
 * service makes meanwhile (checkouts, portal sessions, the webhooks' own reads).
 */
export const SYNC_READS_PER_SECOND: Record<Mode, number> = { test: 20, live: 80 }

/** The object lists `full` walks, in this order. */
export const OBJECT_KINDS = ['subscriptions', 'invoices', 'payment_intents', 'charges'] as const
export type ObjectKind = typeof OBJECT_KINDS[number]

/**
 * Where a sync is (and where a resumed one starts again): the failed deliveries first, then the
 * events list from `at` (unix seconds; every event older than it is applied), then, with `full`,
 * each object list after the object `after`.
 */
export type SyncCursor =
  | { phase: 'failed_deliveries' }
  | { phase: 'events', at: number }
  | { phase: 'objects', kind: ObjectKind, after: string | null }
  | { phase: 'done' }

export const cursorText = (c: SyncCursor): string => JSON.stringify(c)

export function parseCursor (text: string): SyncCursor {
  const value = JSON.parse(text) as Partial<{ phase: string, at: number, kind: ObjectKind, after: string | null }>
  if (value.phase === 'events' && typeof value.at === 'number') return { phase: 'events', at: value.at }
  if (value.phase === 'objects' && OBJECT_KINDS.includes(value.kind as ObjectKind)) return { phase: 'objects', kind: value.kind as ObjectKind, after: value.after ?? null }
  if (value.phase === 'done') return { phase: 'done' }
  return { phase: 'failed_deliveries' }
}

export type SinceResult = { since: number } | { error: 'since_invalid' | 'since_in_future', detail: string }

/**
 * `since`: a date (`2026-11-01`, midnight UTC) or an ISO 8601 date-time with a zone; default and at
 * most 30 days ago, Stripe's event retention (older state comes back with `full`).
 */
export function parseSince (input: string | undefined, now: number): SinceResult {
  const oldest = now - EVENT_RETENTION_SECONDS
  if (input === undefined) return { since: oldest }
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(input)
  const dateTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i.test(input)
  const ms = dateOnly || dateTime ? Date.parse(dateOnly ? `${input}T00:00:00Z` : input) : Number.NaN
  // Date.parse rolls 2026-02-31 over to March: a date that does not exist is refused, not moved.
  if (!Number.isFinite(ms) || (dateOnly && new Date(ms).toISOString().slice(0, 10) !== input)) {
    return { error: 'since_invalid', detail: 'since must be a date (YYYY-MM-DD) or an ISO 8601 date-time with a time zone' }
  }
  const since = Math.floor(ms / 1000)
  if (since > now) return { error: 'since_in_future', detail: 'since is in the future: there is nothing to replay after it yet' }
  return { since: Math.max(since, oldest) }
}

/** A state event's id: never a real Stripe event id (those are `evt_` + 24 characters), stable per object and type. */
const stateEventId = (type: string, objectId: string): string => `evt_state_${type.replace(/\W/g, '_')}_${objectId}`

function stateEvent (type: string, object: object, created: number, mode: Mode, objectId: string): Stripe.Event {
  return {
    id: stateEventId(type, objectId),
    object: 'event',
    api_version: null,
    created,
    data: { object },
    livemode: mode === 'live',
    pending_webhooks: 0,
    request: { id: null, idempotency_key: null },
    type,
  } as unknown as Stripe.Event
}

/**
 * What an object's current state means, as the event that would have announced it: `full` applies
 * these through the same event definitions (and their out-of-order guards) as delivered events.
 * `created` says how new the state is: a subscription as read now (`readAt`), a payment when it
 * succeeded, was canceled or refunded, so that it counts on the day the webhooks would have counted it.
 * A payment's failed attempts that a later success replaced are not in any object: only events have them.
 */
export function stateEvents (kind: ObjectKind, object: Record<string, unknown>, readAt: number, mode: Mode): Stripe.Event[] {
  const id = String(object.id)
  switch (kind) {
    case 'subscriptions': {
      const sub = object as unknown as Stripe.Subscription
      const ended = sub.status === 'canceled' || sub.status === 'incomplete_expired'
      const type = ended ? 'customer.subscription.deleted' : 'customer.subscription.updated'
      return [stateEvent(type, sub, readAt, mode, id)]
    }
    case 'invoices': {
      const invoice = object as unknown as Stripe.Invoice
      if (invoice.status === 'paid') return [stateEvent('invoice.paid', invoice, invoice.status_transitions?.paid_at ?? invoice.created, mode, id)]
      if (invoice.status === 'open' && invoice.attempt_count > 0) {
        return [stateEvent('invoice.payment_failed', invoice, invoice.status_transitions?.finalized_at ?? invoice.created, mode, id)]
      }
      return []
    }
    case 'payment_intents': {
      const expanded = object as unknown as Stripe.PaymentIntent
      const charge = typeof expanded.latest_charge === 'object' && expanded.latest_charge !== null ? expanded.latest_charge : null
      // As events carry it: the charge's id, not the charge.
      const pi = { ...expanded, latest_charge: idOf(expanded.latest_charge) } as Stripe.PaymentIntent
      if (pi.status === 'succeeded') return [stateEvent('payment_intent.succeeded', pi, charge?.created ?? pi.created, mode, id)]
      if (pi.status === 'canceled') return [stateEvent('payment_intent.canceled', pi, pi.canceled_at ?? pi.created, mode, id)]
      if (pi.status === 'requires_payment_method' && pi.last_payment_error) return [stateEvent('payment_intent.payment_failed', pi, pi.created, mode, id)]
      return []
    }
    case 'charges': {
      const charge = object as unknown as Stripe.Charge
      if (charge.amount_refunded <= 0) return []
      const latest = (charge.refunds?.data ?? []).reduce((max, r) => Math.max(max, r.created), 0)
      return [stateEvent('charge.refunded', charge, latest > 0 ? latest : charge.created, mode, id)]
    }
  }
}
