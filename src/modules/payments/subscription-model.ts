import type Stripe from 'stripe'
import { RefetchRequired, type EffectScope } from '../../platform/db/effects.ts'
import type { subscriptions } from '../../platform/db/schema.ts'
import { fromUnix, idOf } from '../../platform/stripe/objects.ts'
import { statsDiff, subscriptionContribution, type StatsDelta, type SubscriptionState } from '../stats/model.ts'
import { endUserFromMetadata } from './end-user-model.ts'

export type SubscriptionRow = typeof subscriptions.$inferSelect

/** What the webhook events (webhooks/events/) know about a subscription, taken from a Stripe payload. */
export interface SubscriptionWrite {
  endUserId: string | null
  stripeCustomerId: string
  stripeSubscriptionId: string
  status: string
  priceId: string | null
  productId: string | null
  quantity: number
  amount: number | null
  currency: string | null
  interval: string | null
  intervalCount: number | null
  currentPeriodStart: Date | null
  currentPeriodEnd: Date | null
  trialEnd: Date | null
  cancelAtPeriodEnd: boolean
  canceledAt: Date | null
  /** Stripe's `pause_collection.behavior` while collection is paused, else null. */
  pauseCollection: string | null
  pauseResumesAt: Date | null
  endedAt: Date | null
  stripeCreatedAt: Date | null
  lastEventAt: number
}

/** A row as read for a guarded write: `version` is its xmin, which any later write changes. */
export type VersionedSubscriptionRow = SubscriptionRow & { version: string }

export const SUBSCRIPTION_DATES = ['currentPeriodStart', 'currentPeriodEnd', 'trialEnd', 'canceledAt', 'pauseResumesAt', 'endedAt', 'stripeCreatedAt', 'createdAt', 'updatedAt'] as const


/** The columns we keep, read from a Stripe subscription (periods live on the items in the current API). */
export function subscriptionWrite (ctx: EffectScope, sub: Stripe.Subscription, endUserId: string | null): SubscriptionWrite {
  const item = sub.items.data[0]
  const price = item?.price
  return {
    endUserId,
    stripeCustomerId: idOf(sub.customer) ?? '',
    stripeSubscriptionId: sub.id,
    status: sub.status,
    priceId: price?.id ?? null,
    productId: idOf(price?.product) ?? null,
    quantity: item?.quantity ?? 1,
    amount: price?.unit_amount ?? null,
    currency: (price?.currency ?? sub.currency ?? null)?.toLowerCase() ?? null,
    interval: price?.recurring?.interval ?? null,
    intervalCount: price?.recurring?.interval_count ?? null,
    currentPeriodStart: fromUnix(item?.current_period_start),
    currentPeriodEnd: fromUnix(item?.current_period_end),
    trialEnd: fromUnix(sub.trial_end),
    cancelAtPeriodEnd: sub.cancel_at_period_end,
    canceledAt: fromUnix(sub.canceled_at),
    pauseCollection: sub.pause_collection?.behavior ?? null,
    pauseResumesAt: fromUnix(sub.pause_collection?.resumes_at),
    endedAt: fromUnix(sub.ended_at),
    stripeCreatedAt: fromUnix(sub.created),
    lastEventAt: ctx.event.created,
  }
}

const stateOf = (s: SubscriptionWrite | SubscriptionRow): SubscriptionState => ({
  status: s.status, currency: s.currency, amount: s.amount, quantity: s.quantity, interval: s.interval, intervalCount: s.intervalCount,
  stripeCreatedAt: s.stripeCreatedAt, endedAt: s.endedAt, canceledAt: s.canceledAt,
})

const time = (d: Date | null) => d?.getTime() ?? null

/** Everything a payload says that we store; equal fingerprints mean the event changes nothing. */
const fingerprint = (s: SubscriptionWrite | SubscriptionRow) => JSON.stringify([
  s.status, s.stripeCustomerId, s.priceId, s.productId, s.quantity, s.amount, s.currency, s.interval, s.intervalCount,
  time(s.currentPeriodStart), time(s.currentPeriodEnd), time(s.trialEnd), s.cancelAtPeriodEnd, time(s.canceledAt), s.pauseCollection, time(s.pauseResumesAt), time(s.endedAt),
])

type Decision = 'apply' | 'skip' | 'undecidable'

/**
 * Whether an event's state replaces the stored one. Newer `created` wins; an older event never
 * overwrites newer state. `canceled` is terminal. For a same-second tie the object's own fields
 * decide where they can (a later period is newer); otherwise the caller re-reads from Stripe.
 */
export function decide (stored: SubscriptionRow | undefined, incoming: SubscriptionWrite): Decision {
  if (!stored) return 'apply'
  if (stored.status === 'canceled' && incoming.status !== 'canceled') return 'skip'
  if (incoming.status === 'canceled' && stored.status !== 'canceled') return 'apply'
  if (incoming.lastEventAt > stored.lastEventAt) return 'apply'
  if (incoming.lastEventAt < stored.lastEventAt) return 'skip'
  if (fingerprint(stored) === fingerprint(incoming)) return 'skip'
  const storedEnd = time(stored.currentPeriodEnd) ?? 0
  const incomingEnd = time(incoming.currentPeriodEnd) ?? 0
  if (incomingEnd !== storedEnd) return incomingEnd > storedEnd ? 'apply' : 'skip'
  return 'undecidable'
}

/** A subscription state that wins over the stored row: the row to write and the stats difference. */
export interface SubscriptionPlan {
  stored: VersionedSubscriptionRow | undefined
  write: SubscriptionWrite
  delta: StatsDelta
}

/**
 * Whether the state replaces what was read, and what to write (pure); null when the stored state is
 * newer or the same. A same-second tie the payload cannot decide throws RefetchRequired.
 */
export function planSubscription (scope: EffectScope, read: { stored: VersionedSubscriptionRow | undefined, customerEndUserId: string | null }, sub: Stripe.Subscription, fresh: boolean): SubscriptionPlan | null {
  const stored = read.stored
  const endUserId = stored?.endUserId ?? endUserFromMetadata(sub.metadata, scope.project.id, scope.mode) ?? read.customerEndUserId
  const incoming = subscriptionWrite(scope, sub, endUserId)

  let decision = decide(stored, incoming)
  // State just re-read from Stripe is the truth for a tie (it is at least as new as the event).
  if (decision === 'undecidable' && fresh) decision = 'apply'
  if (decision === 'undecidable') throw new RefetchRequired(`subscription ${sub.id}`)
  if (decision === 'skip') return null

  const delta = statsDiff([subscriptionContribution(stateOf(incoming))], [subscriptionContribution(stored ? stateOf(stored) : null)])
  return { stored, write: incoming, delta }
}
