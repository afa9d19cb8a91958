import { Type, type Static } from '@sinclair/typebox'
import { Mode, Nullable, ProjectParams, Timestamp } from '../../platform/http/schemas.ts'

/** A Stripe price of this project's account and mode (the same shape checkout accepts). */
export const CatalogPriceId = Type.String({ minLength: 7, maxLength: 255, pattern: '^price_[A-Za-z0-9]+$', description: 'A Stripe price of this project\'s account and mode' })

export const CatalogPriceParams = Type.Object({
  project_id: ProjectParams.properties.project_id,
  price_id: CatalogPriceId,
}, { additionalProperties: false })

const TestMode = Type.Boolean({ default: true, description: 'true for the test catalog, false for live' })

export const CatalogListQuery = Type.Object({
  test_mode: TestMode,
  include_retired: Type.Boolean({ default: false, description: 'Also list entries retired with DELETE' }),
}, { additionalProperties: false })

const Credits = (description: string) => Type.Integer({ minimum: 1, maximum: 1_000_000_000, description })
const CatalogName = Type.String({ minLength: 1, maxLength: 200, description: 'Shown instead of the Stripe product\'s name' })
const ExpiresInDays = Type.Integer({ minimum: 1, maximum: 3650, description: 'Granted credits expire this many days after the grant; omitted: never' })

export const PutPlanBody = Type.Object({
  credits_per_period: Credits('Monthly credits each paid period grants, times the quantity'),
  trial_credits: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Granted once when a trialing subscription appears' })),
  rollover: Type.Optional(Type.Boolean({ description: 'true: a period\'s unused credits stay; false (default): the next period resets them' })),
  name: Type.Optional(CatalogName),
}, { additionalProperties: false })
export type PutPlanBody = Static<typeof PutPlanBody>

export const PutPackageBody = Type.Object({
  credits: Credits('Purchased credits one unit grants, times the quantity'),
  expires_in_days: Type.Optional(ExpiresInDays),
  name: Type.Optional(CatalogName),
}, { additionalProperties: false })
export type PutPackageBody = Static<typeof PutPackageBody>

export const PutTopUpBody = Type.Object({
  currency: Type.String({ minLength: 3, maxLength: 3, pattern: '^[a-z]{3}$', description: 'ISO currency, lowercase (usd)' }),
  credits_per_unit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Credits per minor unit paid (1 credit = 1 cent: 1)' }),
  min_amount: Type.Integer({ minimum: 1, maximum: 99_999_999, description: 'Smallest amount, minor units' }),
  max_amount: Type.Integer({ minimum: 1, maximum: 99_999_999, description: 'Largest amount, minor units (at least min_amount)' }),
  expires_in_days: Type.Optional(ExpiresInDays),
}, { additionalProperties: false })
export type PutTopUpBody = Static<typeof PutTopUpBody>

/** Stripe's facts about the price, as the catalog last saw them. */
const StripePrice = {
  price_id: Type.String(),
  product_id: Type.String(),
  name: Nullable(Type.String({ description: 'The entry\'s name, else the Stripe product\'s' })),
  unit_amount: Nullable(Type.Integer({ description: 'Minor units' })),
  currency: Type.String(),
}

const Housekeeping = {
  mode: Mode,
  active: Type.Boolean({ description: 'false: retired with DELETE (no new purchases; granted credits stay)' }),
  price_active: Type.Boolean({ description: 'Whether the price is still active at Stripe' }),
  created_at: Timestamp,
  updated_at: Timestamp,
}

export const PlanView = Type.Object({
  ...StripePrice,
  interval: Type.String(),
  interval_count: Type.Integer(),
  trial_period_days: Nullable(Type.Integer()),
  credits_per_period: Type.Integer(),
  trial_credits: Type.Integer(),
  rollover: Type.Boolean(),
  ...Housekeeping,
})

export const PackageView = Type.Object({
  ...StripePrice,
  credits: Type.Integer(),
  expires_in_days: Nullable(Type.Integer()),
  ...Housekeeping,
})

export const TopUpView = Type.Object({
  mode: Mode,
  currency: Type.String(),
  credits_per_unit: Type.Integer(),
  min_amount: Type.Integer(),
  max_amount: Type.Integer(),
  expires_in_days: Nullable(Type.Integer()),
  updated_at: Timestamp,
})

export const PlanList = Type.Object({ data: Type.Array(PlanView) })
export const PackageList = Type.Object({ data: Type.Array(PackageView) })

export const PublicCatalogParams = ProjectParams

export const PublicCatalogQuery = Type.Object({
  test_mode: TestMode,
  type: Type.Optional(Type.Union([Type.Literal('subscription'), Type.Literal('one_time')], {
    description: 'subscription: plans only; one_time: packages and the top-up only; omitted: everything',
  })),
}, { additionalProperties: false })

/** What anyone may see of a project's catalog: prices and credits, nothing about the account. */
export const PublicCatalog = Type.Object({
  plans: Type.Array(Type.Object({
    ...StripePrice,
    interval: Type.String(),
    interval_count: Type.Integer(),
    trial_period_days: Nullable(Type.Integer()),
    credits_per_period: Type.Integer(),
  })),
  packages: Type.Array(Type.Object({
    ...StripePrice,
    credits: Type.Integer(),
    expires_in_days: Nullable(Type.Integer()),
  })),
  top_up: Nullable(Type.Object({
    currency: Type.String(),
    credits_per_unit: Type.Integer(),
    min_amount: Type.Integer(),
    max_amount: Type.Integer(),
    expires_in_days: Nullable(Type.Integer()),
  })),
})
