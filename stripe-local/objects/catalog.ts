import type { JsonObject } from '../json.ts'
import type { PriceRec, ProductRec } from '../store.ts'

export const renderProduct = (p: ProductRec): JsonObject => ({
  id: p.id,
  object: 'product',
  active: p.active,
  created: p.created,
  default_price: p.defaultPrice,
  description: p.description,
  images: [...p.images],
  livemode: p.livemode,
  marketing_features: [],
  metadata: { ...p.metadata },
  name: p.name,
  package_dimensions: null,
  shippable: null,
  statement_descriptor: null,
  tax_code: null,
  type: 'service',
  unit_label: p.unitLabel,
  updated: p.updated,
  url: p.url,
})

export const renderPrice = (p: PriceRec): JsonObject => ({
  id: p.id,
  object: 'price',
  active: p.active,
  billing_scheme: 'per_unit',
  created: p.created,
  currency: p.currency,
  custom_unit_amount: null,
  livemode: p.livemode,
  lookup_key: p.lookupKey,
  metadata: { ...p.metadata },
  nickname: p.nickname,
  product: p.product,
  recurring: p.recurring
    ? { interval: p.recurring.interval, interval_count: p.recurring.intervalCount, meter: null, trial_period_days: p.recurring.trialPeriodDays ?? null, usage_type: 'licensed' }
    : null,
  tax_behavior: 'unspecified',
  tiers_mode: null,
  transform_quantity: null,
  type: p.recurring ? 'recurring' : 'one_time',
  unit_amount: p.unitAmount,
  unit_amount_decimal: String(p.unitAmount),
})

/** The legacy `plan` that subscription items still carry beside `price`. */
export function renderPlan (p: PriceRec): JsonObject {
  const recurring = p.recurring ?? { interval: 'month', intervalCount: 1 }
  return {
    id: p.id,
    object: 'plan',
    active: p.active,
    amount: p.unitAmount,
    amount_decimal: String(p.unitAmount),
    billing_scheme: 'per_unit',
    created: p.created,
    currency: p.currency,
    interval: recurring.interval,
    interval_count: recurring.intervalCount,
    livemode: p.livemode,
    metadata: { ...p.metadata },
    meter: null,
    nickname: p.nickname,
    product: p.product,
    tiers_mode: null,
    transform_usage: null,
    trial_period_days: p.recurring?.trialPeriodDays ?? null,
    usage_type: 'licensed',
  }
}
