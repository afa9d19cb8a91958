import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { queryRows } from '../db/client.ts'
import { customers, subscriptions } from '../db/schema.ts'
import type { Mode } from '../lib/stripe.ts'
import { statsDeltaCtes, withCtes, type StatsScope } from './stats.ts'
import type { StatsDelta } from '../services/stats-contributions.ts'

export type SubscriptionRow = typeof subscriptions.$inferSelect

/** What the webhook handlers know about a subscription, taken from a Stripe payload. */
export interface SubscriptionWrite {
  endUserId: string | null
  stripeCustomerId: string
  stripeSubscriptionId: string
  status: string
  priceId: string | null
  productId: string | null
  quantity: number
  amount: number | null
  currency: string | null
  interval: string | null
  intervalCount: number | null
  currentPeriodStart: Date | null
  currentPeriodEnd: Date | null
  trialEnd: Date | null
  cancelAtPeriodEnd: boolean
  canceledAt: Date | null
  endedAt: Date | null
  stripeCreatedAt: Date | null
  lastEventAt: number
}

export async function findSubscription (db: Executor, projectId: string, mode: Mode, stripeSubscriptionId: string): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions)
    .where(and(eq(subscriptions.projectId, projectId), eq(subscriptions.mode, mode), eq(subscriptions.stripeSubscriptionId, stripeSubscriptionId)))
  return row
}

/** The end user the checkout linked to a Stripe customer, if any. */
export async function endUserOfCustomer (db: Executor, projectId: string, mode: Mode, stripeCustomerId: string): Promise<string | null> {
  const [row] = await db.select({ endUserId: customers.endUserId }).from(customers)
    .where(and(eq(customers.projectId, projectId), eq(customers.mode, mode), eq(customers.stripeCustomerId, stripeCustomerId)))
  return row?.endUserId ?? null
}

const ts = (d: Date | null): SQL => (d ? sql`${d.toISOString()}::timestamptz` : sql`null::timestamptz`)

/**
 * Inserts or replaces the subscription and applies the stats delta, in one statement. The WHERE is
 * the out-of-order guard: an older event never overwrites newer state (`force` only for a same-second
 * tie the caller decided, e.g. with state re-read from Stripe). Answers whether the row was written.
 */
export async function upsertSubscription (tx: Executor, scope: StatsScope, w: SubscriptionWrite, delta: StatsDelta, force: boolean): Promise<boolean> {
  const up = sql`insert into subscriptions (developer_id, project_id, mode, end_user_id, stripe_customer_id, stripe_subscription_id, status, price_id, product_id,
      quantity, amount, currency, interval, interval_count, current_period_start, current_period_end, trial_end, cancel_at_period_end, canceled_at, ended_at,
      stripe_created_at, last_event_at)
    values (${scope.developerId}, ${scope.projectId}::uuid, ${scope.mode}, ${w.endUserId}, ${w.stripeCustomerId}, ${w.stripeSubscriptionId}, ${w.status}, ${w.priceId}, ${w.productId},
      ${w.quantity}::int, ${w.amount}::bigint, ${w.currency}, ${w.interval}, ${w.intervalCount}::int, ${ts(w.currentPeriodStart)}, ${ts(w.currentPeriodEnd)}, ${ts(w.trialEnd)},
      ${w.cancelAtPeriodEnd}, ${ts(w.canceledAt)}, ${ts(w.endedAt)}, ${ts(w.stripeCreatedAt)}, ${w.lastEventAt}::bigint)
    on conflict (project_id, mode, stripe_subscription_id) do update set
      end_user_id = coalesce(subscriptions.end_user_id, excluded.end_user_id),
      stripe_customer_id = excluded.stripe_customer_id, status = excluded.status, price_id = excluded.price_id, product_id = excluded.product_id,
      quantity = excluded.quantity, amount = excluded.amount, currency = excluded.currency, interval = excluded.interval, interval_count = excluded.interval_count,
      current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end, trial_end = excluded.trial_end,
      cancel_at_period_end = excluded.cancel_at_period_end, canceled_at = excluded.canceled_at, ended_at = excluded.ended_at,
      stripe_created_at = coalesce(subscriptions.stripe_created_at, excluded.stripe_created_at),
      last_event_at = greatest(subscriptions.last_event_at, excluded.last_event_at), updated_at = now()
    where subscriptions.last_event_at < excluded.last_event_at${force ? sql` or true` : sql``}
    returning 1`
  const stats = statsDeltaCtes(scope, delta, sql`exists (select 1 from up)`)
  const rows = await queryRows<{ n: number }>(tx, withCtes([['up', up], ...stats.map((s, i): [string, SQL] => [`s${i}`, s])], sql`select count(*)::int as n from up`))
  return Number(rows[0]?.n ?? 0) > 0
}

/** Links a subscription the checkout created to its end user, once (checkout.session.completed). */
export async function linkSubscriptionEndUser (tx: Executor, projectId: string, mode: Mode, stripeSubscriptionId: string, endUserId: string): Promise<void> {
  await tx.execute(sql`update subscriptions set end_user_id = ${endUserId}, updated_at = now()
    where project_id = ${projectId}::uuid and mode = ${mode} and stripe_subscription_id = ${stripeSubscriptionId} and end_user_id is null`)
}

/** Remembers which Stripe customer an end user has, unless either side is already linked. */
export async function linkCustomer (tx: Executor, projectId: string, mode: Mode, endUserId: string, stripeCustomerId: string): Promise<void> {
  await tx.execute(sql`with claimed as (
      update customers set stripe_customer_id = ${stripeCustomerId}
      where project_id = ${projectId}::uuid and mode = ${mode} and end_user_id = ${endUserId} and stripe_customer_id is null
        and not exists (select 1 from customers c where c.project_id = ${projectId}::uuid and c.mode = ${mode} and c.stripe_customer_id = ${stripeCustomerId})
      returning 1)
    insert into customers (project_id, mode, end_user_id, stripe_customer_id)
    select ${projectId}::uuid, ${mode}, ${endUserId}, ${stripeCustomerId} where not exists (select 1 from claimed)
    on conflict do nothing`)
}
