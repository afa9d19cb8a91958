import { and, asc, eq } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import type { WriteKind } from '../../platform/db/effects.ts'
import { creditPackages, creditPlans, creditTopUps, projects } from '../../platform/db/schema.ts'
import { q, raw } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type PlanRow = typeof creditPlans.$inferSelect
export type PackageRow = typeof creditPackages.$inferSelect
export type TopUpRow = typeof creditTopUps.$inferSelect

/** Stripe's facts about a price (and its product), read when the entry is PUT. */
export interface PriceFacts {
  productId: string
  productName: string | null
  unitAmount: number
  currency: string
  active: boolean
  /** Unix seconds of the read: events created before it do not overwrite these facts. */
  syncedAt: number
}

export interface PlanWrite {
  creditsPerPeriod: number
  trialCredits: number
  rollover: boolean
  name: string | null
  interval: string
  intervalCount: number
  trialPeriodDays: number | null
}

export interface PackageWrite {
  credits: number
  expiresInDays: number | null
  name: string | null
}

export interface TopUpWrite {
  currency: string
  creditsPerUnit: number
  minAmount: number
  maxAmount: number
  expiresInDays: number | null
}

/** Whether a project exists (the public catalog's only question about it). */
export async function projectExists (db: Executor, projectId: string): Promise<boolean> {
  const [row] = await db.select({ id: projects.id }).from(projects).where(eq(projects.id, projectId))
  return row !== undefined
}

const priceColumns = (facts: PriceFacts) => ({
  productId: facts.productId,
  productName: facts.productName,
  unitAmount: facts.unitAmount,
  currency: facts.currency,
  priceActive: facts.active,
  priceSyncedAt: facts.syncedAt,
  productSyncedAt: facts.syncedAt,
})

/** Insert or replace: a PUT states the whole entry (omitted fields take their defaults) and re-activates a retired one. */
export async function upsertPlan (db: Executor, projectId: string, mode: Mode, priceId: string, facts: PriceFacts, plan: PlanWrite): Promise<PlanRow> {
  const values = { ...priceColumns(facts), ...plan, active: true }
  const [row] = await db.insert(creditPlans).values({ projectId, mode, priceId, ...values })
    .onConflictDoUpdate({ target: [creditPlans.projectId, creditPlans.mode, creditPlans.priceId], set: { ...values, updatedAt: new Date() } })
    .returning()
  if (!row) throw new Error('plan upsert returned no row')
  return row
}

export async function upsertPackage (db: Executor, projectId: string, mode: Mode, priceId: string, facts: PriceFacts, pack: PackageWrite): Promise<PackageRow> {
  const values = { ...priceColumns(facts), ...pack, active: true }
  const [row] = await db.insert(creditPackages).values({ projectId, mode, priceId, ...values })
    .onConflictDoUpdate({ target: [creditPackages.projectId, creditPackages.mode, creditPackages.priceId], set: { ...values, updatedAt: new Date() } })
    .returning()
  if (!row) throw new Error('package upsert returned no row')
  return row
}

/** Active plans (all, with `includeRetired`), oldest first. */
export async function listPlans (db: Executor, projectId: string, mode: Mode, includeRetired: boolean): Promise<PlanRow[]> {
  return db.select().from(creditPlans)
    .where(and(eq(creditPlans.projectId, projectId), eq(creditPlans.mode, mode), includeRetired ? undefined : eq(creditPlans.active, true)))
    .orderBy(asc(creditPlans.createdAt), asc(creditPlans.priceId))
}

export async function listPackages (db: Executor, projectId: string, mode: Mode, includeRetired: boolean): Promise<PackageRow[]> {
  return db.select().from(creditPackages)
    .where(and(eq(creditPackages.projectId, projectId), eq(creditPackages.mode, mode), includeRetired ? undefined : eq(creditPackages.active, true)))
    .orderBy(asc(creditPackages.createdAt), asc(creditPackages.priceId))
}

/** What can be bought now: entries neither retired by the developer nor deactivated at Stripe. */
export async function listPurchasablePlans (db: Executor, projectId: string, mode: Mode): Promise<PlanRow[]> {
  return db.select().from(creditPlans)
    .where(and(eq(creditPlans.projectId, projectId), eq(creditPlans.mode, mode), eq(creditPlans.active, true), eq(creditPlans.priceActive, true)))
    .orderBy(asc(creditPlans.createdAt), asc(creditPlans.priceId))
}

export async function listPurchasablePackages (db: Executor, projectId: string, mode: Mode): Promise<PackageRow[]> {
  return db.select().from(creditPackages)
    .where(and(eq(creditPackages.projectId, projectId), eq(creditPackages.mode, mode), eq(creditPackages.active, true), eq(creditPackages.priceActive, true)))
    .orderBy(asc(creditPackages.createdAt), asc(creditPackages.priceId))
}

/** Retires an active plan (undefined: none, or already retired). What it granted stays. */
export async function retirePlan (db: Executor, projectId: string, mode: Mode, priceId: string): Promise<PlanRow | undefined> {
  const [row] = await db.update(creditPlans).set({ active: false, updatedAt: new Date() })
    .where(and(eq(creditPlans.projectId, projectId), eq(creditPlans.mode, mode), eq(creditPlans.priceId, priceId), eq(creditPlans.active, true)))
    .returning()
  return row
}

export async function retirePackage (db: Executor, projectId: string, mode: Mode, priceId: string): Promise<PackageRow | undefined> {
  const [row] = await db.update(creditPackages).set({ active: false, updatedAt: new Date() })
    .where(and(eq(creditPackages.projectId, projectId), eq(creditPackages.mode, mode), eq(creditPackages.priceId, priceId), eq(creditPackages.active, true)))
    .returning()
  return row
}

export async function upsertTopUp (db: Executor, projectId: string, mode: Mode, topUp: TopUpWrite): Promise<TopUpRow> {
  const values = { ...topUp, active: true }
  const [row] = await db.insert(creditTopUps).values({ projectId, mode, ...values })
    .onConflictDoUpdate({ target: [creditTopUps.projectId, creditTopUps.mode], set: { ...values, updatedAt: new Date() } })
    .returning()
  if (!row) throw new Error('top-up upsert returned no row')
  return row
}

/** The active top-up of a project and mode, if any. */
export async function findTopUp (db: Executor, projectId: string, mode: Mode): Promise<TopUpRow | undefined> {
  const [row] = await db.select().from(creditTopUps)
    .where(and(eq(creditTopUps.projectId, projectId), eq(creditTopUps.mode, mode), eq(creditTopUps.active, true)))
  return row
}

export async function retireTopUp (db: Executor, projectId: string, mode: Mode): Promise<TopUpRow | undefined> {
  const [row] = await db.update(creditTopUps).set({ active: false, updatedAt: new Date() })
    .where(and(eq(creditTopUps.projectId, projectId), eq(creditTopUps.mode, mode), eq(creditTopUps.active, true)))
    .returning()
  return row
}

/** A price's facts from a price.updated event; `created` is the event's. */
export interface PriceRefresh {
  projectId: string
  mode: Mode
  priceId: string
  unitAmount: number | null
  currency: string
  active: boolean
  /** null: a one-time price (plans keep their interval; only recurring prices are plans). */
  recurring: { interval: string, intervalCount: number, trialPeriodDays: number | null } | null
  created: number
}

/**
 * Refreshes every plan and package of the price in that project and mode, unless what they hold is
 * from a later moment (a later event, or a PUT that read the price after this event was created).
 */
export const catalogPriceRefreshes: WriteKind<PriceRefresh> = {
  name: 'catalog price refreshes',
  ctes (items, gate) {
    const rows = q`unnest(${items.map((r) => r.projectId)}::uuid[], ${items.map((r) => r.mode)}::text[], ${items.map((r) => r.priceId)}::text[],
      ${items.map((r) => r.unitAmount)}::bigint[], ${items.map((r) => r.currency)}::text[], ${items.map((r) => String(r.active))}::text[]::boolean[],
      ${items.map((r) => r.recurring?.interval ?? null)}::text[], ${items.map((r) => r.recurring?.intervalCount ?? null)}::int[],
      ${items.map((r) => r.recurring?.trialPeriodDays ?? null)}::int[], ${items.map((r) => r.created)}::bigint[])
      as u(p, m, price, unit_amount, currency, active, interval, interval_count, trial_period_days, created)`
    return {
      ctes: [
        ['catalog_plan_prices', q`update credit_plans c set unit_amount = u.unit_amount, currency = u.currency, price_active = u.active,
            interval = coalesce(u.interval, c.interval), interval_count = coalesce(u.interval_count, c.interval_count),
            trial_period_days = case when u.interval is null then c.trial_period_days else u.trial_period_days end,
            price_synced_at = u.created, updated_at = now()
          from ${rows}
          where c.project_id = u.p and c.mode = u.m and c.price_id = u.price and c.price_synced_at <= u.created and ${gate}
          returning 1`],
        ['catalog_package_prices', q`update credit_packages c set unit_amount = u.unit_amount, currency = u.currency, price_active = u.active,
            price_synced_at = u.created, updated_at = now()
          from ${rows}
          where c.project_id = u.p and c.mode = u.m and c.price_id = u.price and c.price_synced_at <= u.created and ${gate}
          returning 1`],
      ],
    }
  },
}

/** A product's name from a product.updated event; `created` is the event's. */
export interface ProductRefresh { projectId: string, mode: Mode, productId: string, name: string, created: number }

/** Renames every plan and package of the product in that project and mode, unless what they hold is newer. */
export const catalogProductRefreshes: WriteKind<ProductRefresh> = {
  name: 'catalog product refreshes',
  ctes (items, gate) {
    const rows = q`unnest(${items.map((r) => r.projectId)}::uuid[], ${items.map((r) => r.mode)}::text[], ${items.map((r) => r.productId)}::text[],
      ${items.map((r) => r.name)}::text[], ${items.map((r) => r.created)}::bigint[]) as u(p, m, product, name, created)`
    const update = (table: string) => q`update ${raw(table)} c set product_name = left(u.name, 255), product_synced_at = u.created, updated_at = now()
      from ${rows}
      where c.project_id = u.p and c.mode = u.m and c.product_id = u.product and c.product_synced_at <= u.created and ${gate}
      returning 1`
    return { ctes: [['catalog_plan_products', update('credit_plans')], ['catalog_package_products', update('credit_packages')]] }
  },
}
