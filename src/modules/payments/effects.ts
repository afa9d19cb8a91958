import type Stripe from 'stripe'
import { effect, read, write, writeOnly, type Effect, type EffectScope, type Guard } from '../../platform/db/effects.ts'
import { idOf } from '../../platform/stripe/objects.ts'
import { statsEffectScope } from '../stats/effects.ts'
import { statsDeltas } from '../stats/repository.ts'
import { customerEndUser, customerLinks } from './customer-repository.ts'
import { planSubscription } from './subscription-model.ts'
import { subscriptionById, subscriptionEndUserLinks, subscriptionUpserts } from './subscription-repository.ts'
import { customerToLookUp, planTransactionRead, type TransactionFacts } from './transaction-model.ts'
import { transactionMerges, transactionsByKeys } from './transaction-repository.ts'

/**
 * What Stripe events mean for payments, as effects: a payment's facts merged into its one row, a
 * subscription's state, and the links a completed checkout makes. Each locks the Stripe objects it
 * reads or writes, so two effects on one object never share a batch.
 */

const lockKey = (kind: string, scope: EffectScope, id: string): string => `${kind}|${scope.project.id}|${scope.mode}|${id}`
const owner = (scope: EffectScope) => ({ developerId: scope.project.developerId, projectId: scope.project.id, mode: scope.mode })
const guardOf = (table: string) => (row: { id: string, version: string }): Guard => ({ table, id: row.id, version: row.version })

/**
 * Merges what the event says about a payment into every row its Stripe ids point at (one row after
 * the merge, the checkout's own row keeping its id), with the stats difference. An invoice's payment
 * intent and the invoice thus end up as ONE transaction whichever event comes first.
 */
export function paymentEffect (scope: EffectScope, facts: TransactionFacts): Effect {
  const k = facts.keys
  const customerId = customerToLookUp(facts)
  const lockKeys = [
    ...(k.checkoutSessionId ? [lockKey('cs', scope, k.checkoutSessionId)] : []),
    ...(k.paymentIntentId ? [lockKey('pi', scope, k.paymentIntentId)] : []),
    ...(k.invoiceId ? [lockKey('in', scope, k.invoiceId)] : []),
    ...(k.chargeId ? [lockKey('ch', scope, k.chargeId)] : []),
    ...(customerId ? [lockKey('cus', scope, customerId)] : []),
  ]
  return effect({
    lockKeys,
    reads: [
      read(transactionsByKeys, { projectId: scope.project.id, mode: scope.mode, keys: k }),
      read(customerEndUser, { projectId: scope.project.id, mode: scope.mode, customerId }),
    ],
    plan ([rows, customerEndUserId], ctx) {
      const plan = planTransactionRead(rows, customerEndUserId, facts, scope.event.created)
      if (!plan) return null
      return {
        guards: (plan.keep ? [plan.keep, ...plan.others] : []).map(guardOf('transactions')),
        writes: [write(transactionMerges, { scope: owner(scope), plan }), write(statsDeltas, { scope: statsEffectScope(scope, ctx), delta: plan.delta })],
      }
    },
  })
}

/**
 * A subscription's state (the payload, or `fresh`: the object re-read from Stripe just now) replaces
 * the stored row when it is newer, with the stats difference between the row's old and new
 * contribution. A same-second tie the payload cannot decide throws RefetchRequired from the plan.
 */
export function subscriptionEffect (scope: EffectScope, sub: Stripe.Subscription, fresh: boolean): Effect {
  const customerId = idOf(sub.customer)
  return effect({
    lockKeys: [lockKey('sub', scope, sub.id), ...(customerId ? [lockKey('cus', scope, customerId)] : [])],
    reads: [
      read(subscriptionById, { projectId: scope.project.id, mode: scope.mode, subscriptionId: sub.id }),
      read(customerEndUser, { projectId: scope.project.id, mode: scope.mode, customerId }),
    ],
    plan ([stored, customerEndUserId], ctx) {
      const plan = planSubscription(scope, { stored, customerEndUserId }, sub, fresh)
      if (!plan) return null
      return {
        guards: plan.stored ? [guardOf('subscriptions')(plan.stored)] : [],
        writes: [write(subscriptionUpserts, { scope: owner(scope), stored: plan.stored, write: plan.write }), write(statsDeltas, { scope: statsEffectScope(scope, ctx), delta: plan.delta })],
      }
    },
  })
}

/** Remembers the Stripe customer a completed checkout gave the end user (unless either is linked already). */
export const customerLinkEffect = (scope: EffectScope, endUserId: string, customerId: string): Effect =>
  writeOnly([lockKey('cus', scope, customerId)], write(customerLinks, { projectId: scope.project.id, mode: scope.mode, endUserId, customerId }))

/** Links the subscription a checkout created to its end user, once. */
export const subscriptionEndUserEffect = (scope: EffectScope, subscriptionId: string, endUserId: string): Effect =>
  writeOnly([lockKey('sub', scope, subscriptionId)], write(subscriptionEndUserLinks, { projectId: scope.project.id, mode: scope.mode, subscriptionId, endUserId }))
