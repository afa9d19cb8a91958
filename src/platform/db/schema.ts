import { sql } from 'drizzle-orm'
import {
  bigint, boolean, check, date, index, integer, pgTable, primaryKey, smallint, text, timestamp, uniqueIndex, uuid, varchar,
} from 'drizzle-orm/pg-core'

export const MODES = ['test', 'live'] as const
// A varchar with a CHECK rather than a Postgres enum: enums are schema-global types, and tests run each in its own schema.
const modeColumn = () => varchar('mode', { length: 4, enum: MODES }).notNull()

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const updatedAt = () => timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow()
const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })
const money = (name: string) => bigint(name, { mode: 'number' })

export const projects = pgTable('projects', {
  id: uuid('id').primaryKey().defaultRandom(),
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  name: varchar('name', { length: 200 }).notNull(),
  /** Sealed (platform/crypto.ts); verifies the project's end-user tokens. */
  endUserSecret: text('end_user_secret').notNull(),
  endUserSecretVersion: integer('end_user_secret_version').notNull().default(1),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  index('projects_developer_created_idx').on(t.developerId, t.createdAt, t.id),
])

export const stripeConfigs = pgTable('stripe_configs', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  /** Sealed secret (sk_ or rk_); only the hint is ever shown. */
  secretKey: text('secret_key').notNull(),
  secretKeyHint: varchar('secret_key_hint', { length: 64 }).notNull(),
  publishableKey: varchar('publishable_key', { length: 255 }).notNull(),
  /** Sealed signing secret entered by the developer (e.g. from `stripe listen`). */
  webhookSecret: text('webhook_secret'),
  /** The endpoint the platform created at Stripe, and its sealed signing secret. */
  webhookEndpointId: varchar('webhook_endpoint_id', { length: 255 }),
  webhookEndpointUrl: text('webhook_endpoint_url'),
  managedWebhookSecret: text('managed_webhook_secret'),
  active: boolean('active').notNull().default(true),
  /** Bumped on every change: the client cache is keyed by it, and NOTIFY carries it. */
  version: integer('version').notNull().default(1),
  stripeAccountId: varchar('stripe_account_id', { length: 255 }),
  livemode: boolean('livemode'),
  validatedAt: at('validated_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('stripe_configs_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode] }),
])

export const customers = pgTable('customers', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  endUserId: varchar('end_user_id', { length: 128 }).notNull(),
  stripeCustomerId: varchar('stripe_customer_id', { length: 255 }),
  createdAt: createdAt(),
}, (t) => [
  check('customers_mode_ck', sql`${t.mode} in ('test', 'live')`),
  uniqueIndex('customers_end_user_uq').on(t.projectId, t.mode, t.endUserId),
  uniqueIndex('customers_stripe_uq').on(t.projectId, t.mode, t.stripeCustomerId),
])

export const subscriptions = pgTable('subscriptions', {
  id: uuid('id').primaryKey().defaultRandom(),
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  endUserId: varchar('end_user_id', { length: 128 }),
  stripeCustomerId: varchar('stripe_customer_id', { length: 255 }).notNull(),
  stripeSubscriptionId: varchar('stripe_subscription_id', { length: 255 }).notNull(),
  status: varchar('status', { length: 32 }).notNull(),
  priceId: varchar('price_id', { length: 255 }),
  productId: varchar('product_id', { length: 255 }),
  quantity: integer('quantity').notNull().default(1),
  /** Unit amount of the price in minor units. */
  amount: money('amount'),
  currency: varchar('currency', { length: 3 }),
  interval: varchar('interval', { length: 8 }),
  intervalCount: integer('interval_count'),
  currentPeriodStart: at('current_period_start'),
  currentPeriodEnd: at('current_period_end'),
  trialEnd: at('trial_end'),
  cancelAtPeriodEnd: boolean('cancel_at_period_end').notNull().default(false),
  canceledAt: at('canceled_at'),
  /** Stripe's `pause_collection.behavior` (keep_as_draft, mark_uncollectible, void) while collection is paused; null otherwise. */
  pauseCollection: varchar('pause_collection', { length: 32 }),
  /** `pause_collection.resumes_at`: when collection resumes by itself, if set. */
  pauseResumesAt: at('pause_resumes_at'),
  /** When the subscription actually ended (status canceled); its day counts the cancellation. */
  endedAt: at('ended_at'),
  /** Stripe's own `created`: the day a new subscription is counted on. */
  stripeCreatedAt: at('stripe_created_at'),
  /** `created` (unix seconds) of the newest Stripe event applied: the out-of-order guard. */
  lastEventAt: bigint('last_event_at', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('subscriptions_mode_ck', sql`${t.mode} in ('test', 'live')`),
  uniqueIndex('subscriptions_stripe_uq').on(t.projectId, t.mode, t.stripeSubscriptionId),
  index('subscriptions_developer_created_idx').on(t.developerId, t.mode, t.createdAt, t.id),
  index('subscriptions_project_created_idx').on(t.projectId, t.mode, t.createdAt, t.id),
  index('subscriptions_end_user_idx').on(t.projectId, t.mode, t.endUserId),
  // Dashboard lists (modules/payments/list-repository.ts): every filter is an index range in (created_at, id) order.
  index('subscriptions_developer_status_created_idx').on(t.developerId, t.mode, t.status, t.createdAt, t.id),
  index('subscriptions_project_status_created_idx').on(t.projectId, t.mode, t.status, t.createdAt, t.id),
  index('subscriptions_developer_customer_created_idx').on(t.developerId, t.mode, t.stripeCustomerId, t.createdAt, t.id),
  index('subscriptions_developer_end_user_created_idx').on(t.developerId, t.mode, t.endUserId, t.createdAt, t.id),
  index('subscriptions_project_customer_created_idx').on(t.projectId, t.mode, t.stripeCustomerId, t.createdAt, t.id),
  index('subscriptions_project_end_user_created_idx').on(t.projectId, t.mode, t.endUserId, t.createdAt, t.id),
])

export const transactions = pgTable('transactions', {
  id: uuid('id').primaryKey().defaultRandom(),
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  endUserId: varchar('end_user_id', { length: 128 }),
  kind: varchar('kind', { length: 16 }).notNull(),
  status: varchar('status', { length: 24 }).notNull(),
  amount: money('amount').notNull(),
  amountRefunded: money('amount_refunded').notNull().default(0),
  currency: varchar('currency', { length: 3 }).notNull(),
  description: varchar('description', { length: 1000 }),
  stripeCustomerId: varchar('stripe_customer_id', { length: 255 }),
  stripeCheckoutSessionId: varchar('stripe_checkout_session_id', { length: 255 }),
  stripePaymentIntentId: varchar('stripe_payment_intent_id', { length: 255 }),
  stripeInvoiceId: varchar('stripe_invoice_id', { length: 255 }),
  stripeChargeId: varchar('stripe_charge_id', { length: 255 }),
  stripeSubscriptionId: varchar('stripe_subscription_id', { length: 255 }),
  lastEventAt: bigint('last_event_at', { mode: 'number' }).notNull().default(0),
  createdAt: createdAt(),
  succeededAt: at('succeeded_at'),
  /** When the payment failed (the day it counts as failed, if it never succeeds). */
  failedAt: at('failed_at'),
  refundedAt: at('refunded_at'),
  updatedAt: updatedAt(),
}, (t) => [
  check('transactions_mode_ck', sql`${t.mode} in ('test', 'live')`),
  uniqueIndex('transactions_payment_intent_uq').on(t.projectId, t.mode, t.stripePaymentIntentId).where(sql`stripe_payment_intent_id is not null`),
  uniqueIndex('transactions_invoice_uq').on(t.projectId, t.mode, t.stripeInvoiceId).where(sql`stripe_invoice_id is not null`),
  uniqueIndex('transactions_checkout_session_uq').on(t.projectId, t.mode, t.stripeCheckoutSessionId).where(sql`stripe_checkout_session_id is not null`),
  index('transactions_developer_created_idx').on(t.developerId, t.mode, t.createdAt, t.id),
  index('transactions_project_created_idx').on(t.projectId, t.mode, t.createdAt, t.id),
  index('transactions_end_user_idx').on(t.projectId, t.mode, t.endUserId, t.createdAt, t.id),
  // Unique like the other Stripe ids: rows merge by any of them, so a charge names at most one row (and a racing insert fails and retries).
  uniqueIndex('transactions_charge_uq').on(t.projectId, t.mode, t.stripeChargeId).where(sql`stripe_charge_id is not null`),
  // Dashboard lists (modules/payments/list-repository.ts): every filter is an index range in (created_at, id) order.
  index('transactions_developer_status_created_idx').on(t.developerId, t.mode, t.status, t.createdAt, t.id),
  index('transactions_project_status_created_idx').on(t.projectId, t.mode, t.status, t.createdAt, t.id),
  index('transactions_developer_customer_created_idx').on(t.developerId, t.mode, t.stripeCustomerId, t.createdAt, t.id),
  index('transactions_developer_end_user_created_idx').on(t.developerId, t.mode, t.endUserId, t.createdAt, t.id),
  index('transactions_project_customer_created_idx').on(t.projectId, t.mode, t.stripeCustomerId, t.createdAt, t.id),
])

export const webhookEvents = pgTable('webhook_events', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  id: varchar('id', { length: 255 }).notNull(),
  type: varchar('type', { length: 128 }).notNull(),
  /** processed | ignored | failed */
  status: varchar('status', { length: 16 }).notNull(),
  attempts: integer('attempts').notNull().default(1),
  error: varchar('error', { length: 2000 }),
  eventCreated: bigint('event_created', { mode: 'number' }).notNull(),
  /** The body exactly as Stripe sent and signed it (text, not jsonb: parsing a few KB per event into jsonb was the largest cost of an insert). */
  payload: text('payload'),
  receivedAt: at('received_at').notNull().defaultNow(),
  processedAt: at('processed_at'),
}, (t) => [
  check('webhook_events_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.id] }),
  index('webhook_events_project_received_idx').on(t.projectId, t.mode, t.receivedAt, t.id),
  index('webhook_events_project_status_idx').on(t.projectId, t.mode, t.status, t.receivedAt, t.id),
])

/**
 * Daily money and subscription movements. `shard` spreads one busy project's writes over several
 * rows so concurrent webhooks do not queue on one hot row; readers sum over shards.
 */
export const statsDaily = pgTable('stats_daily', {
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  day: date('day', { mode: 'string' }).notNull(),
  currency: varchar('currency', { length: 3 }).notNull(),
  shard: smallint('shard').notNull().default(0),
  gross: money('gross').notNull().default(0),
  refunded: money('refunded').notNull().default(0),
  succeededCount: integer('succeeded_count').notNull().default(0),
  failedCount: integer('failed_count').notNull().default(0),
  newSubscriptions: integer('new_subscriptions').notNull().default(0),
  canceledSubscriptions: integer('canceled_subscriptions').notNull().default(0),
}, (t) => [
  check('stats_daily_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.developerId, t.projectId, t.mode, t.day, t.currency, t.shard] }),
  index('stats_daily_developer_day_idx').on(t.developerId, t.mode, t.day),
])

/**
 * stats_daily rolled up by month, one row per (developer, mode, month, project, currency, shard) with
 * each counter as an array of its 31 days (index = day of month; days a month lacks stay 0) and as
 * the month's total. A two-year read is then ~25 rows per currency and project however busy the
 * days were, where stats_daily has one row per day. Maintained by a trigger on stats_daily
 * (migrations/0006), so every writer of stats_daily keeps it exact; never written by the service.
 */
const dayArray = (name: string) => money(name).array().notNull()
/** The counters of stats_daily, each as the 31 days of a month. */
const dayArrays = () => ({
  gross: dayArray('gross'),
  refunded: dayArray('refunded'),
  succeededCount: dayArray('succeeded_count'),
  failedCount: dayArray('failed_count'),
  newSubscriptions: dayArray('new_subscriptions'),
  canceledSubscriptions: dayArray('canceled_subscriptions'),
})
export const statsMonthly = pgTable('stats_monthly', {
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  mode: modeColumn(),
  month: date('month', { mode: 'string' }).notNull(),
  // No foreign key: the rows follow stats_daily's through the trigger, also when a project's rows
  // are deleted by its cascade (a key here would make that trigger write to a deleted project).
  projectId: uuid('project_id').notNull(),
  currency: varchar('currency', { length: 3 }).notNull(),
  shard: smallint('shard').notNull(),
  // The totals before the arrays: a read of the totals alone then stops decoding the row before them.
  grossTotal: money('gross_total').notNull(),
  refundedTotal: money('refunded_total').notNull(),
  succeededTotal: money('succeeded_total').notNull(),
  failedTotal: money('failed_total').notNull(),
  newTotal: money('new_total').notNull(),
  canceledTotal: money('canceled_total').notNull(),
  ...dayArrays(),
}, (t) => [
  check('stats_monthly_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.developerId, t.mode, t.month, t.projectId, t.currency, t.shard] }),
])

/** stats_monthly summed over the developer's projects: the developer-wide daily series, read in ~25 rows per currency. */
export const statsDeveloperMonthly = pgTable('stats_developer_monthly', {
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  mode: modeColumn(),
  month: date('month', { mode: 'string' }).notNull(),
  currency: varchar('currency', { length: 3 }).notNull(),
  shard: smallint('shard').notNull(),
  ...dayArrays(),
}, (t) => [
  check('stats_developer_monthly_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.developerId, t.mode, t.month, t.currency, t.shard] }),
])

/** Current subscription counts by status and MRR, adjusted by each subscription's old and new contribution. */
export const statsSubscriptions = pgTable('stats_subscriptions', {
  developerId: varchar('developer_id', { length: 128 }).notNull(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  currency: varchar('currency', { length: 3 }).notNull(),
  shard: smallint('shard').notNull().default(0),
  active: integer('active').notNull().default(0),
  trialing: integer('trialing').notNull().default(0),
  pastDue: integer('past_due').notNull().default(0),
  canceled: integer('canceled').notNull().default(0),
  incomplete: integer('incomplete').notNull().default(0),
  unpaid: integer('unpaid').notNull().default(0),
  paused: integer('paused').notNull().default(0),
  mrr: money('mrr').notNull().default(0),
}, (t) => [
  check('stats_subscriptions_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.developerId, t.projectId, t.mode, t.currency, t.shard] }),
])

// ---------------------------------------------------------------------------------------------
// Credits: the catalog, wallets as lots with a ledger, project API keys, idempotent requests.
// Every write to lots, wallets and the ledger goes through the credits_* functions of
// migrations/0010 (one place for the rules the database enforces; see modules/credits/).
// ---------------------------------------------------------------------------------------------

export const CREDIT_BUCKETS = ['monthly', 'purchased', 'bonus'] as const
export const LEDGER_KINDS = ['grant', 'consume', 'reserve', 'release', 'expire', 'reset', 'clawback', 'debt', 'adjustment', 'referral_bonus'] as const

/**
 * What a catalog entry knows of Stripe besides its amounts (migration 0011): whether the price is still
 * active there (`active` is ours: retired by the developer), and the Stripe time (unix seconds: an
 * event's `created`, or when a PUT read the price) the price's and the product's facts are from, so
 * an older price.updated or product.updated never overwrites newer facts.
 */
const stripeFacts = () => ({
  priceActive: boolean('price_active').notNull().default(true),
  priceSyncedAt: bigint('price_synced_at', { mode: 'number' }).notNull().default(0),
  productSyncedAt: bigint('product_synced_at', { mode: 'number' }).notNull().default(0),
})

/** A recurring price whose paid invoices grant credits each period. */
export const creditPlans = pgTable('credit_plans', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  priceId: varchar('price_id', { length: 255 }).notNull(),
  productId: varchar('product_id', { length: 255 }).notNull(),
  name: varchar('name', { length: 200 }),
  creditsPerPeriod: bigint('credits_per_period', { mode: 'number' }).notNull(),
  trialCredits: bigint('trial_credits', { mode: 'number' }).notNull().default(0),
  rollover: boolean('rollover').notNull().default(false),
  /** Stripe's, refreshed on PUT and on price.updated / product.updated. */
  unitAmount: money('unit_amount'),
  currency: varchar('currency', { length: 3 }).notNull(),
  interval: varchar('interval', { length: 16 }).notNull(),
  intervalCount: integer('interval_count').notNull().default(1),
  trialPeriodDays: integer('trial_period_days'),
  productName: varchar('product_name', { length: 255 }),
  ...stripeFacts(),
  active: boolean('active').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('credit_plans_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('credit_plans_credits_ck', sql`${t.creditsPerPeriod} > 0 and ${t.trialCredits} >= 0`),
  primaryKey({ columns: [t.projectId, t.mode, t.priceId] }),
])

/** A one-time price whose purchase grants purchased credits. */
export const creditPackages = pgTable('credit_packages', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  priceId: varchar('price_id', { length: 255 }).notNull(),
  productId: varchar('product_id', { length: 255 }).notNull(),
  name: varchar('name', { length: 200 }),
  credits: bigint('credits', { mode: 'number' }).notNull(),
  expiresInDays: integer('expires_in_days'),
  unitAmount: money('unit_amount'),
  currency: varchar('currency', { length: 3 }).notNull(),
  productName: varchar('product_name', { length: 255 }),
  ...stripeFacts(),
  active: boolean('active').notNull().default(true),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('credit_packages_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('credit_packages_credits_ck', sql`${t.credits} > 0`),
  primaryKey({ columns: [t.projectId, t.mode, t.priceId] }),
])

/** Custom-amount purchases: the client picks the amount within the bounds, the price is built server-side. */
export const creditTopUps = pgTable('credit_top_ups', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  currency: varchar('currency', { length: 3 }).notNull(),
  /** Credits per minor unit paid (1 credit = 1 cent: 1). */
  creditsPerUnit: integer('credits_per_unit').notNull(),
  minAmount: money('min_amount').notNull(),
  maxAmount: money('max_amount').notNull(),
  expiresInDays: integer('expires_in_days'),
  active: boolean('active').notNull().default(true),
  updatedAt: updatedAt(),
}, (t) => [
  check('credit_top_ups_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('credit_top_ups_bounds_ck', sql`${t.creditsPerUnit} > 0 and ${t.minAmount} > 0 and ${t.maxAmount} >= ${t.minAmount}`),
  primaryKey({ columns: [t.projectId, t.mode] }),
])

const credits = (name: string) => bigint(name, { mode: 'number' }).notNull().default(0)

/** One end user's credits in one project and mode: the cached balance, always equal to the ledger's last entry. */
export const creditWallets = pgTable('credit_wallets', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  endUserId: varchar('end_user_id', { length: 128 }).notNull(),
  monthly: credits('monthly'),
  purchased: credits('purchased'),
  bonus: credits('bonus'),
  reserved: credits('reserved'),
  debt: credits('debt'),
  /** The last ledger entry's seq: entries are numbered 1, 2, 3 … per wallet, with no gap. */
  seq: bigint('seq', { mode: 'number' }).notNull().default(0),
  nextResetAt: at('next_reset_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('credit_wallets_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('credit_wallets_nonnegative_ck', sql`${t.monthly} >= 0 and ${t.purchased} >= 0 and ${t.bonus} >= 0 and ${t.reserved} >= 0 and ${t.debt} >= 0`),
  uniqueIndex('credit_wallets_end_user_uq').on(t.projectId, t.mode, t.endUserId),
])

/** Credits held together: one grant. `remaining` never goes below zero (the database refuses). */
export const creditLots = pgTable('credit_lots', {
  id: uuid('id').primaryKey().defaultRandom(),
  walletId: uuid('wallet_id').notNull().references(() => creditWallets.id, { onDelete: 'cascade' }),
  projectId: uuid('project_id').notNull(),
  mode: modeColumn(),
  bucket: varchar('bucket', { length: 16, enum: CREDIT_BUCKETS }).notNull(),
  granted: bigint('granted', { mode: 'number' }).notNull(),
  remaining: bigint('remaining', { mode: 'number' }).notNull(),
  /** What was taken back from this lot's own grant by refunds (clawbacks from it and the debt they left). */
  takenBack: credits('taken_back'),
  /** What the grant was paid (minor units), for a refund's share; null for grants nobody paid for. */
  paidAmount: money('paid_amount'),
  /** The payment that paid for the lot, so its refunds find it (and a refund before the grant waits under it). */
  stripePaymentIntentId: varchar('stripe_payment_intent_id', { length: 255 }),
  /** The period a monthly lot belongs to: an older period's lot never resets a newer one. */
  periodStart: at('period_start'),
  expiresAt: at('expires_at'),
  /** `invoice:in_…`, `transaction:<uuid>`, `trial:sub_…`, `adjustment:<key>`, `referral:<uuid>`: a source grants once. */
  source: varchar('source', { length: 300 }).notNull(),
  closedAt: at('closed_at'),
  createdAt: createdAt(),
}, (t) => [
  check('credit_lots_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('credit_lots_bucket_ck', sql`${t.bucket} in ('monthly', 'purchased', 'bonus')`),
  check('credit_lots_remaining_ck', sql`${t.remaining} >= 0 and ${t.remaining} <= ${t.granted}`),
  uniqueIndex('credit_lots_source_uq').on(t.projectId, t.mode, t.source),
  index('credit_lots_payment_intent_idx').on(t.projectId, t.mode, t.stripePaymentIntentId).where(sql`stripe_payment_intent_id is not null`),
  index('credit_lots_open_idx').on(t.walletId, t.expiresAt).where(sql`remaining > 0`),
  // A wallet's lots of one bucket and period, open or closed: a plan grant's top-up and its newer-period check (migrations/0012).
  index('credit_lots_wallet_period_idx').on(t.walletId, t.bucket, t.periodStart),
  index('credit_lots_expiry_idx').on(t.expiresAt).where(sql`remaining > 0 and expires_at is not null`),
])

/** Never changed or deleted (a trigger refuses). Balances are the wallet's after this entry. */
export const creditLedger = pgTable('credit_ledger', {
  id: uuid('id').primaryKey().defaultRandom(),
  walletId: uuid('wallet_id').notNull().references(() => creditWallets.id, { onDelete: 'cascade' }),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  kind: varchar('kind', { length: 16, enum: LEDGER_KINDS }).notNull(),
  /** The bucket the entry moves (null for reserve, release and debt recorded). */
  bucket: varchar('bucket', { length: 16, enum: CREDIT_BUCKETS }),
  /** Signed: what the entry adds to its bucket (reserve/release: to reserved; debt: to debt). */
  amount: bigint('amount', { mode: 'number' }).notNull(),
  monthlyAfter: bigint('monthly_after', { mode: 'number' }).notNull(),
  purchasedAfter: bigint('purchased_after', { mode: 'number' }).notNull(),
  bonusAfter: bigint('bonus_after', { mode: 'number' }).notNull(),
  reservedAfter: bigint('reserved_after', { mode: 'number' }).notNull(),
  debtAfter: bigint('debt_after', { mode: 'number' }).notNull(),
  lotId: uuid('lot_id'),
  source: varchar('source', { length: 300 }),
  description: varchar('description', { length: 500 }),
  createdAt: createdAt(),
}, (t) => [
  check('credit_ledger_kind_ck', sql`${t.kind} in ('grant', 'consume', 'reserve', 'release', 'expire', 'reset', 'clawback', 'debt', 'adjustment', 'referral_bonus')`),
  uniqueIndex('credit_ledger_wallet_seq_uq').on(t.walletId, t.seq),
  index('credit_ledger_wallet_kind_seq_idx').on(t.walletId, t.kind, t.seq),
])

/** Credits set aside for work that may fail: committed (spent) or released, or released by itself after its TTL. */
export const creditReservations = pgTable('credit_reservations', {
  id: uuid('id').primaryKey().defaultRandom(),
  walletId: uuid('wallet_id').notNull().references(() => creditWallets.id, { onDelete: 'cascade' }),
  amount: bigint('amount', { mode: 'number' }).notNull(),
  /** held | committed | released | expired */
  status: varchar('status', { length: 16 }).notNull().default('held'),
  expiresAt: at('expires_at').notNull(),
  createdAt: createdAt(),
  settledAt: at('settled_at'),
}, (t) => [
  check('credit_reservations_amount_ck', sql`${t.amount} > 0`),
  index('credit_reservations_held_idx').on(t.walletId, t.expiresAt).where(sql`status = 'held'`),
])

/** A refund that arrived before the grant it takes back: applied when the grant is made. */
export const creditPendingRefunds = pgTable('credit_pending_refunds', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  source: varchar('source', { length: 300 }).notNull(),
  refunded: money('refunded').notNull(),
  paid: money('paid').notNull(),
  updatedAt: updatedAt(),
}, (t) => [
  check('credit_pending_refunds_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.source] }),
])

/**
 * A subscription that ended (customer.subscription.deleted): a grant of its plan delivered after the
 * end (a late invoice.paid, a trial's or a plan change's update) is expired at once, as the end
 * expired the monthly credits it found.
 */
export const creditEndedSubscriptions = pgTable('credit_ended_subscriptions', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  subscriptionId: varchar('subscription_id', { length: 255 }).notNull(),
  endedAt: at('ended_at').notNull().defaultNow(),
}, (t) => [
  check('credit_ended_subscriptions_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.subscriptionId] }),
])

/** The first answer to an idempotent credits request, replayed for the same key and body. */
export const creditRequests = pgTable('credit_requests', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  key: varchar('key', { length: 255 }).notNull(),
  /** sha256 of the operation and its body: the same key with another body is refused. */
  fingerprint: varchar('fingerprint', { length: 64 }).notNull(),
  status: smallint('status').notNull(),
  response: text('response').notNull(),
  createdAt: createdAt(),
}, (t) => [
  check('credit_requests_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.key] }),
])

/** A developer's backend's key for one project and mode: only the sha256 is kept. */
export const projectApiKeys = pgTable('project_api_keys', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  name: varchar('name', { length: 200 }).notNull(),
  /** `psk_test_` or `psk_live_` and the first characters of the random part: enough to recognise, not to use. */
  prefix: varchar('prefix', { length: 32 }).notNull(),
  hash: varchar('hash', { length: 64 }).notNull(),
  lastUsedAt: at('last_used_at'),
  revokedAt: at('revoked_at'),
  createdAt: createdAt(),
}, (t) => [
  check('project_api_keys_mode_ck', sql`${t.mode} in ('test', 'live')`),
  uniqueIndex('project_api_keys_hash_uq').on(t.hash),
  index('project_api_keys_project_idx').on(t.projectId, t.mode, t.createdAt),
])

/**
 * Credits moved per project, mode and UTC day, written by the ledger engine with every entry (migration
 * 0011), spread over shards by wallet so concurrent spends of different wallets rarely share a row.
 */
export const statsCreditsDaily = pgTable('stats_credits_daily', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  day: date('day', { mode: 'string' }).notNull(),
  shard: smallint('shard').notNull(),
  granted: credits('granted'),
  consumed: credits('consumed'),
  expired: credits('expired'),
  clawedBack: credits('clawed_back'),
}, (t) => [
  check('stats_credits_daily_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.day, t.shard] }),
])

/** Credits still owed to end users (the sum of every wallet's total), per project and mode, by shard. */
export const statsCreditsCurrent = pgTable('stats_credits_current', {
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  shard: smallint('shard').notNull(),
  outstanding: credits('outstanding'),
}, (t) => [
  check('stats_credits_current_mode_ck', sql`${t.mode} in ('test', 'live')`),
  primaryKey({ columns: [t.projectId, t.mode, t.shard] }),
])

/**
 * Resyncs from Stripe (modules/stripe-sync): at most one unfinished (running or interrupted) per
 * project and mode, which the partial unique index enforces for every instance. `cursor` is where a
 * resumed run starts again (JSON: the phase and its position); the counters are its progress.
 */
export const stripeSyncs = pgTable('stripe_syncs', {
  id: uuid('id').primaryKey().defaultRandom(),
  projectId: uuid('project_id').notNull().references(() => projects.id, { onDelete: 'cascade' }),
  mode: modeColumn(),
  /** running | interrupted | succeeded | failed */
  status: varchar('status', { length: 16 }).notNull(),
  /** Unix seconds: the oldest event replayed. */
  since: bigint('since', { mode: 'number' }).notNull(),
  full: boolean('full').notNull(),
  cursor: text('cursor').notNull(),
  eventsListed: integer('events_listed').notNull().default(0),
  eventsApplied: integer('events_applied').notNull().default(0),
  eventsSkipped: integer('events_skipped').notNull().default(0),
  /** Events whose processing failed (recorded as failed, as a failed delivery is) or that are not a Stripe event shape. */
  eventsFailed: integer('events_failed').notNull().default(0),
  failedDeliveriesReplayed: integer('failed_deliveries_replayed').notNull().default(0),
  objectsApplied: integer('objects_applied').notNull().default(0),
  stripeReads: integer('stripe_reads').notNull().default(0),
  rateLimited: integer('rate_limited').notNull().default(0),
  error: varchar('error', { length: 500 }),
  /** The instance running it, and when it last saved progress: a running sync whose heartbeat stopped is resumed by the next request. */
  owner: varchar('owner', { length: 64 }),
  heartbeatAt: at('heartbeat_at'),
  startedAt: at('started_at').notNull().defaultNow(),
  finishedAt: at('finished_at'),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
}, (t) => [
  check('stripe_syncs_mode_ck', sql`${t.mode} in ('test', 'live')`),
  check('stripe_syncs_status_ck', sql`${t.status} in ('running', 'interrupted', 'succeeded', 'failed')`),
  uniqueIndex('stripe_syncs_unfinished_uq').on(t.projectId, t.mode).where(sql`status in ('running', 'interrupted')`),
  index('stripe_syncs_project_created_idx').on(t.projectId, t.mode, t.createdAt),
])
