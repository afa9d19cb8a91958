import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type Stripe from 'stripe'
import type { Db } from '../../platform/db/client.ts'
import { AppError, badRequest, conflict } from '../../platform/http/errors.ts'
import { splitPage } from '../../platform/http/pagination.ts'
import type { StripeResolver } from '../stripe-accounts/resolver.ts'
import { findCustomer } from './customer-repository.ts'
import {
  BLOCKING_STATUSES, LIVE_STATUSES, findCurrentSubscription, listSubscriptionsIn, findSubscriptionById, findSubscriptionIn, listEndUserTransactions,
  type SubscriptionRow, type TransactionRow,
} from './end-user-repository.ts'
import { slotOf } from '../../platform/db/effects.ts'
import { applyJob } from '../../webhooks/pipeline/apply.ts'
import { STATS_SHARDS } from '../stats/repository.ts'
import { subscriptionEffect } from './effects.ts'
import type { UpdateSubscriptionBody } from './schemas.ts'
import { retrievePrice, type EndUserRef } from './checkout-service.ts'
import { callStripe, stripeFor } from '../stripe-accounts/access.ts'
import { unixNow } from '../../platform/time.ts'

export interface SubscriptionDeps {
  db: Db
  resolver: StripeResolver
  log: FastifyBaseLogger
}

const noSubscription = (): AppError => new AppError(404, 'no_subscription', 'Not found', 'You have no active subscription in this mode')

export function createSubscriptionService ({ db, resolver, log }: SubscriptionDeps) {
  async function customerIdOf (ref: EndUserRef): Promise<string | null> {
    return (await findCustomer(db, ref.projectId, ref.mode, ref.endUserId))?.stripeCustomerId ?? null
  }

  async function liveSubscription (ref: EndUserRef): Promise<SubscriptionRow> {
    const row = await findSubscriptionIn(db, ref.projectId, ref.mode, ref.endUserId, LIVE_STATUSES, await customerIdOf(ref))
    if (!row) throw noSubscription()
    return row
  }

  /**
   * Stripe's answer goes into the row at once, after the call, as the same effect a subscription
   * event has (same out-of-order guard, same stats delta, one statement), without an event record:
   * it counts as an event created when the call started, so a webhook event newer than the call
   * keeps its state, older ones no longer apply, and the echo of this change agrees (no delta). A
   * webhook that changed the row between the read and the write makes it run again.
   */
  async function remember (ref: EndUserRef, developerId: string, row: SubscriptionRow, asOf: number, answer: Stripe.Subscription): Promise<SubscriptionRow> {
    const scope = { project: { id: ref.projectId, developerId }, mode: ref.mode, event: { id: `direct_${randomUUID()}`, created: asOf } }
    await applyJob(db, { record: null, effects: [subscriptionEffect(scope, answer, true)] }, { slot: slotOf(answer.id, STATS_SHARDS) })
    const stored = await findSubscriptionById(db, row.id)
    if (!stored) log.warn({ subscription: row.stripeSubscriptionId }, 'subscription row vanished after a direct update')
    return stored ?? row
  }

  return {
    async current (ref: EndUserRef): Promise<SubscriptionRow | undefined> {
      return findCurrentSubscription(db, ref.projectId, ref.mode, ref.endUserId, await customerIdOf(ref))
    },

    /** Every subscription that bills (active, trialing, past due): more than one is a duplicate the end user must see. */
    async billing (ref: EndUserRef): Promise<SubscriptionRow[]> {
      return listSubscriptionsIn(db, ref.projectId, ref.mode, ref.endUserId, BLOCKING_STATUSES, await customerIdOf(ref))
    },

    async payments (ref: EndUserRef, limit: number, startingAfter?: string): Promise<{ rows: TransactionRow[], hasMore: boolean }> {
      const rows = await listEndUserTransactions(db, ref.projectId, ref.mode, ref.endUserId, limit + 1, startingAfter)
      return splitPage(rows, limit)
    },

    /** At period end by default; `false` cancels now. Cancelling works on a deactivated configuration too. */
    async cancel (ref: EndUserRef, atPeriodEnd: boolean): Promise<SubscriptionRow> {
      const row = await liveSubscription(ref)
      const { stripe, developerId } = await stripeFor(resolver, ref.projectId, ref.mode, false)
      const asOf = unixNow()
      const answer = await callStripe(() => atPeriodEnd
        ? stripe.subscriptions.update(row.stripeSubscriptionId, { cancel_at_period_end: true })
        : stripe.subscriptions.cancel(row.stripeSubscriptionId))
      return remember(ref, developerId, row, asOf, answer)
    },

    /** Swaps the one item's price (same currency and billing interval), and/or undoes a pending cancel. */
    async update (ref: EndUserRef, body: UpdateSubscriptionBody): Promise<SubscriptionRow> {
      if (body.price_id === undefined && body.resume !== true) {
        throw badRequest('nothing_to_update', 'Send price_id to change plan, resume: true to undo a pending cancellation, or both')
      }
      const row = await liveSubscription(ref)
      const { stripe, developerId } = await stripeFor(resolver, ref.projectId, ref.mode, body.price_id !== undefined)
      const current = await callStripe(() => stripe.subscriptions.retrieve(row.stripeSubscriptionId))
      if (!(LIVE_STATUSES as readonly string[]).includes(current.status)) throw noSubscription()
      const params: Stripe.SubscriptionUpdateParams = {}
      if (body.price_id !== undefined) {
        const [item, ...others] = current.items.data
        if (!item || others.length > 0) throw conflict('unsupported_subscription', 'Only subscriptions with a single item can change plan here; use the customer portal')
        const price = await retrievePrice(stripe, body.price_id)
        const from = item.price
        const problem = (code: string, detail: string) => badRequest(code, detail, { price_id: price.id })
        if (price.type !== 'recurring' || !price.recurring) throw problem('price_mode_mismatch', `The price ${price.id} is one-time; a subscription needs a recurring price`)
        if (price.currency !== from.currency) throw problem('currency_mismatch', `The price ${price.id} is in ${price.currency}; the subscription bills in ${from.currency}`)
        if (price.recurring.interval !== from.recurring?.interval || price.recurring.interval_count !== from.recurring.interval_count) {
          throw problem('interval_mismatch', `The price ${price.id} bills every ${price.recurring.interval_count} ${price.recurring.interval}; the subscription bills every ${from.recurring?.interval_count ?? '?'} ${from.recurring?.interval ?? '?'}`)
        }
        params.items = [{ id: item.id, price: price.id }]
        if (body.proration_behavior) params.proration_behavior = body.proration_behavior
      }
      if (body.resume === true) params.cancel_at_period_end = false
      const asOf = unixNow()
      const answer = await callStripe(() => stripe.subscriptions.update(row.stripeSubscriptionId, params))
      return remember(ref, developerId, row, asOf, answer)
    },
  }
}
