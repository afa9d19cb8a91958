import type Stripe from 'stripe'
import { readSubscription, writeSubscriptionGuarded, type SubscriptionRead, type SubscriptionRow, type SubscriptionWrite, type VersionedSubscriptionRow } from './subscription-repository.ts'
import type { StatsDelta } from '../stats/model.ts'
import { statsDiff, subscriptionContribution, type SubscriptionState } from '../stats/model.ts'
import { alreadyRecorded, endUserFromMetadata, fromUnix, idOf, pendingRecord, RefetchRequired, settleWrite, statsScope, type HandlerContext, type IntentScope } from '../../webhooks/pipeline/context.ts'

/** The columns we keep, read from a Stripe subscription (periods live on the items in the current API). */
export function subscriptionWrite (ctx: IntentScope, sub: Stripe.Subscription, endUserId: string | null): SubscriptionWrite {
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
  time(s.currentPeriodStart), time(s.currentPeriodEnd), time(s.trialEnd), s.cancelAtPeriodEnd, time(s.canceledAt), time(s.endedAt),
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

/**
 * Applies a subscription payload (or the object re-read from Stripe, `fresh`) and the stats
 * difference between the row's old and new contribution, in one guarded statement (which also
 * records the event when the handler is single-write). A row changed since the read: WriteConflict.
 */
export async function applySubscription (ctx: HandlerContext, sub: Stripe.Subscription, fresh: boolean): Promise<void> {
  const read = await readSubscription(ctx.tx, ctx.project.id, ctx.mode, sub.id, idOf(sub.customer), ctx.record ? ctx.event.id : null)
  if (alreadyRecorded(ctx, read.eventStatus)) return
  const plan = planSubscription(ctx, read, sub, fresh)
  if (!plan) return
  settleWrite(ctx, `subscription ${sub.id}`, await writeSubscriptionGuarded(ctx.tx, statsScope(ctx), plan.stored, plan.write, plan.delta, pendingRecord(ctx)))
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
export function planSubscription (scope: IntentScope, read: Omit<SubscriptionRead, 'eventStatus'>, sub: Stripe.Subscription, fresh: boolean): SubscriptionPlan | null {
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
