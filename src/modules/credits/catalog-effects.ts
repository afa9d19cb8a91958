import type Stripe from 'stripe'
import { write, writeOnly, type Effect, type EffectScope } from '../../platform/db/effects.ts'
import { catalogPriceRefreshes, catalogProductRefreshes } from './catalog-repository.ts'

/**
 * What Stripe's catalog events mean for the credit catalog: the amounts and names it shows follow
 * Stripe's. Each locks its price or product, so two events about one never share a batch; the
 * writes skip rows holding facts from a later moment, so events in any order end on the newest.
 */

const lockKey = (kind: string, scope: EffectScope, id: string): string => `${kind}|${scope.project.id}|${scope.mode}|${id}`

/** price.updated: the unit amount, currency, interval and whether the price is active at Stripe. */
export const catalogPriceEffect = (scope: EffectScope, price: Stripe.Price): Effect =>
  writeOnly([lockKey('price', scope, price.id)], write(catalogPriceRefreshes, {
    projectId: scope.project.id,
    mode: scope.mode,
    priceId: price.id,
    unitAmount: price.unit_amount,
    currency: price.currency,
    active: price.active,
    recurring: price.recurring
      ? { interval: price.recurring.interval, intervalCount: price.recurring.interval_count, trialPeriodDays: price.recurring.trial_period_days ?? null }
      : null,
    created: scope.event.created,
  }))

/** product.updated: the product's name, which the catalog shows unless the entry has its own. */
export const catalogProductEffect = (scope: EffectScope, product: Stripe.Product): Effect =>
  writeOnly([lockKey('prod', scope, product.id)], write(catalogProductRefreshes, {
    projectId: scope.project.id, mode: scope.mode, productId: product.id, name: product.name, created: scope.event.created,
  }))
