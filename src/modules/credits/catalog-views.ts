import type { creditPackages, creditPlans, creditTopUps } from '../../platform/db/schema.ts'

type PlanRow = typeof creditPlans.$inferSelect
type PackageRow = typeof creditPackages.$inferSelect
type TopUpRow = typeof creditTopUps.$inferSelect

/** The entry's own name, else the Stripe product's. */
const nameOf = (row: { name: string | null, productName: string | null }): string | null => row.name ?? row.productName

const housekeeping = (row: PlanRow | PackageRow) => ({
  mode: row.mode,
  active: row.active,
  price_active: row.priceActive,
  created_at: row.createdAt.toISOString(),
  updated_at: row.updatedAt.toISOString(),
})

function publicPlan (p: PlanRow) {
  return {
    price_id: p.priceId,
    product_id: p.productId,
    name: nameOf(p),
    unit_amount: p.unitAmount,
    currency: p.currency,
    interval: p.interval,
    interval_count: p.intervalCount,
    trial_period_days: p.trialPeriodDays,
    credits_per_period: p.creditsPerPeriod,
  }
}

function publicPackage (p: PackageRow) {
  return {
    price_id: p.priceId,
    product_id: p.productId,
    name: nameOf(p),
    unit_amount: p.unitAmount,
    currency: p.currency,
    credits: p.credits,
    expires_in_days: p.expiresInDays,
  }
}

function publicTopUp (t: TopUpRow) {
  return {
    currency: t.currency,
    credits_per_unit: t.creditsPerUnit,
    min_amount: t.minAmount,
    max_amount: t.maxAmount,
    expires_in_days: t.expiresInDays,
  }
}

/** A plan as its developer sees it: the public fields plus its settings and state. */
export const planView = (p: PlanRow) => ({ ...publicPlan(p), trial_credits: p.trialCredits, rollover: p.rollover, ...housekeeping(p) })

export const packageView = (p: PackageRow) => ({ ...publicPackage(p), ...housekeeping(p) })

export const topUpView = (t: TopUpRow) => ({ mode: t.mode, ...publicTopUp(t), updated_at: t.updatedAt.toISOString() })

/** The public catalog: named fields only, nothing about the account, its keys or its state. */
export function publicCatalogView (plans: readonly PlanRow[], packages: readonly PackageRow[], topUp: TopUpRow | undefined) {
  return {
    plans: plans.map(publicPlan),
    packages: packages.map(publicPackage),
    top_up: topUp ? publicTopUp(topUp) : null,
  }
}
