import type Stripe from 'stripe'
import type { Db } from '../../platform/db/client.ts'
import { badRequest, notFound } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { idOf } from '../../platform/stripe/objects.ts'
import { productName, retrievePrice } from '../payments/checkout-service.ts'
import { ownedProject } from '../projects/service.ts'
import type { StripeResolver } from '../stripe-accounts/resolver.ts'
import { stripeFor } from '../stripe-accounts/access.ts'
import { unixNow } from '../../platform/time.ts'
import {
  findTopUp, listPackages, listPlans, listPurchasablePackages, listPurchasablePlans, projectExists, retirePackage, retirePlan, retireTopUp,
  upsertPackage, upsertPlan, upsertTopUp, type PackageRow, type PlanRow, type PriceFacts, type TopUpRow,
} from './catalog-repository.ts'
import type { PutPackageBody, PutPlanBody, PutTopUpBody } from './catalog-schemas.ts'

export interface CatalogDeps { db: Db, resolver: StripeResolver }

export interface CatalogRef { developerId: string, projectId: string, mode: Mode }

export type CatalogType = 'subscription' | 'one_time'

const mismatch = (price: Stripe.Price, detail: string) => badRequest('price_mode_mismatch', detail, { price_id: price.id })

/**
 * The catalog of a project and mode: which Stripe prices grant credits, and how many. Every price
 * is read from the project's own Stripe account (so a price of another account or mode is
 * price_not_found) and its amounts are Stripe's, refreshed here and by price.updated/product.updated.
 */
export function createCatalogService ({ db, resolver }: CatalogDeps) {
  async function ownedOrThrow (ref: CatalogRef): Promise<void> {
    await ownedProject(db, ref.developerId, ref.projectId)
  }

  /** The price as Stripe has it now, checked to be active with a fixed amount (retrievePrice) and of the wanted type. */
  async function priceOf (ref: CatalogRef, priceId: string, type: Stripe.Price.Type): Promise<{ price: Stripe.Price, facts: PriceFacts }> {
    // Catalog changes only read the account: a deactivated configuration (no new checkouts) may still edit it.
    const { stripe } = await stripeFor(resolver, ref.projectId, ref.mode, false)
    // Taken before the read: an event created while Stripe answered may carry a change the answer lacks.
    const syncedAt = unixNow()
    const price = await retrievePrice(stripe, priceId)
    if (type === 'recurring' && price.type !== 'recurring') throw mismatch(price, `The price ${price.id} is one-time; a plan needs a recurring price`)
    if (type === 'one_time' && price.type !== 'one_time') throw mismatch(price, `The price ${price.id} is recurring; a package needs a one-time price`)
    if (price.recurring?.usage_type === 'metered') {
      throw badRequest('price_unsupported', `The price ${price.id} is metered; a plan needs a licensed price with a fixed unit amount`, { price_id: price.id })
    }
    const productId = idOf(price.product)
    if (!productId || price.unit_amount === null) throw badRequest('price_unsupported', `The price ${price.id} has no product or no fixed unit amount`, { price_id: price.id })
    return {
      price,
      facts: { productId, productName: productName(price), unitAmount: price.unit_amount, currency: price.currency, active: price.active, syncedAt },
    }
  }

  return {
    async putPlan (ref: CatalogRef, priceId: string, body: PutPlanBody): Promise<PlanRow> {
      await ownedOrThrow(ref)
      const { price, facts } = await priceOf(ref, priceId, 'recurring')
      const recurring = price.recurring
      if (!recurring) throw mismatch(price, `The price ${price.id} has no recurring interval`)
      return upsertPlan(db, ref.projectId, ref.mode, price.id, facts, {
        creditsPerPeriod: body.credits_per_period,
        trialCredits: body.trial_credits ?? 0,
        rollover: body.rollover ?? false,
        name: body.name ?? null,
        interval: recurring.interval,
        intervalCount: recurring.interval_count,
        trialPeriodDays: recurring.trial_period_days ?? null,
      })
    },

    async putPackage (ref: CatalogRef, priceId: string, body: PutPackageBody): Promise<PackageRow> {
      await ownedOrThrow(ref)
      const { price, facts } = await priceOf(ref, priceId, 'one_time')
      return upsertPackage(db, ref.projectId, ref.mode, price.id, facts, {
        credits: body.credits,
        expiresInDays: body.expires_in_days ?? null,
        name: body.name ?? null,
      })
    },

    async listPlans (ref: CatalogRef, includeRetired: boolean): Promise<PlanRow[]> {
      await ownedOrThrow(ref)
      return listPlans(db, ref.projectId, ref.mode, includeRetired)
    },

    async listPackages (ref: CatalogRef, includeRetired: boolean): Promise<PackageRow[]> {
      await ownedOrThrow(ref)
      return listPackages(db, ref.projectId, ref.mode, includeRetired)
    },

    async retirePlan (ref: CatalogRef, priceId: string): Promise<PlanRow> {
      await ownedOrThrow(ref)
      const row = await retirePlan(db, ref.projectId, ref.mode, priceId)
      if (!row) throw notFound('plan')
      return row
    },

    async retirePackage (ref: CatalogRef, priceId: string): Promise<PackageRow> {
      await ownedOrThrow(ref)
      const row = await retirePackage(db, ref.projectId, ref.mode, priceId)
      if (!row) throw notFound('package')
      return row
    },

    async putTopUp (ref: CatalogRef, body: PutTopUpBody): Promise<TopUpRow> {
      await ownedOrThrow(ref)
      if (body.max_amount < body.min_amount) {
        throw badRequest('validation_failed', 'max_amount must be at least min_amount', { errors: [{ path: 'body/max_amount', message: 'must be >= min_amount' }] })
      }
      return upsertTopUp(db, ref.projectId, ref.mode, {
        currency: body.currency,
        creditsPerUnit: body.credits_per_unit,
        minAmount: body.min_amount,
        maxAmount: body.max_amount,
        expiresInDays: body.expires_in_days ?? null,
      })
    },

    async getTopUp (ref: CatalogRef): Promise<TopUpRow> {
      await ownedOrThrow(ref)
      const row = await findTopUp(db, ref.projectId, ref.mode)
      if (!row) throw notFound('top-up')
      return row
    },

    async retireTopUp (ref: CatalogRef): Promise<TopUpRow> {
      await ownedOrThrow(ref)
      const row = await retireTopUp(db, ref.projectId, ref.mode)
      if (!row) throw notFound('top-up')
      return row
    },

    /** What anyone may buy: plans (subscription), packages and the top-up (one_time), or all. */
    async publicCatalog (projectId: string, mode: Mode, type: CatalogType | undefined): Promise<{ plans: PlanRow[], packages: PackageRow[], topUp: TopUpRow | undefined }> {
      if (!await projectExists(db, projectId)) throw notFound('project')
      const [plans, packages, topUp] = await Promise.all([
        type === 'one_time' ? [] : listPurchasablePlans(db, projectId, mode),
        type === 'subscription' ? [] : listPurchasablePackages(db, projectId, mode),
        type === 'subscription' ? undefined : findTopUp(db, projectId, mode),
      ])
      return { plans, packages, topUp }
    },
  }
}
