import { sql } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { rowFromJson } from '../../platform/db/client.ts'
import { q, raw, runRows, withCtes, type Fragment } from '../../platform/db/statement.ts'
import type { subscriptions } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { statsDeltaCtes, type StatsScope } from '../stats/repository.ts'
import type { StatsDelta } from '../stats/model.ts'
import { eventStatusSql, recordEventSql, type EventRecordWrite } from '../../webhooks/repository.ts'

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

/** A row as read for a guarded write: `version` is its xmin, which any later write changes. */
export type VersionedSubscriptionRow = SubscriptionRow & { version: string }

export const SUBSCRIPTION_DATES = ['currentPeriodStart', 'currentPeriodEnd', 'trialEnd', 'canceledAt', 'endedAt', 'stripeCreatedAt', 'createdAt', 'updatedAt'] as const

export interface SubscriptionRead {
  stored: VersionedSubscriptionRow | undefined
  eventStatus: string | null
  customerEndUserId: string | null
}

/** The stored subscription, the end user linked to its customer, and (on request) the event's status: one round trip. */
export async function readSubscription (db: Executor, projectId: string, mode: Mode, stripeSubscriptionId: string, customerId: string | null, eventId: string | null): Promise<SubscriptionRead> {
  const [row] = await runRows<{ sub: unknown, event_status: string | null, customer_end_user: string | null }>(db, q`select
    (select row_to_json(s) from (select t.*, t.xmin::text as version from subscriptions t
      where t.project_id = ${projectId}::uuid and t.mode = ${mode} and t.stripe_subscription_id = ${stripeSubscriptionId}) s) as sub,
    ${eventId ? eventStatusSql(projectId, mode, eventId) : q`null::text`} as event_status,
    ${customerId ? q`(select end_user_id from customers where project_id = ${projectId}::uuid and mode = ${mode} and stripe_customer_id = ${customerId})` : q`null::text`} as customer_end_user`)
  return {
    stored: row?.sub ? rowFromJson<VersionedSubscriptionRow>(row.sub, SUBSCRIPTION_DATES) : undefined,
    eventStatus: row?.event_status ?? null,
    customerEndUserId: row?.customer_end_user ?? null,
  }
}

const ts = (d: Date | null): Fragment => (d ? q`${d.toISOString()}::timestamptz` : raw('null::timestamptz'))

/**
 * Inserts or replaces the subscription with the stats delta, in ONE statement guarded like
 * writeTransactionGuarded: the stored row (if any) is locked and must be the version that was read;
 * a new row relies on the unique id (a concurrent insert fails the statement and the caller runs
 * again). With a pending event record, the event is recorded in the same statement (a duplicate
 * writes nothing). The caller decided, on that read, that the incoming state wins.
 */
export async function writeSubscriptionGuarded (db: Executor, scope: StatsScope, stored: VersionedSubscriptionRow | undefined, w: SubscriptionWrite, delta: StatsDelta, record: EventRecordWrite | null): Promise<{ ok: boolean, recorded: boolean }> {
  const ctes: Array<[string, Fragment]> = stored
    ? [
        ['locked', q`select xmin::text as v from subscriptions where id = ${stored.id}::uuid for update`],
        ['guard', q`select count(*) = 1 as ok from locked where v = ${stored.version}`],
      ]
    : [['guard', q`select true as ok`]]
  ctes.push(['go', record
    ? recordEventSql(record.event, 'processed', record.force, q`(select ok from guard)`)
    : q`select 1 where (select ok from guard)`])
  ctes.push(['up', stored
    ? q`update subscriptions set end_user_id = coalesce(end_user_id, ${w.endUserId}), stripe_customer_id = ${w.stripeCustomerId}, status = ${w.status},
        price_id = ${w.priceId}, product_id = ${w.productId}, quantity = ${w.quantity}::int, amount = ${w.amount}::bigint, currency = ${w.currency},
        interval = ${w.interval}, interval_count = ${w.intervalCount}::int, current_period_start = ${ts(w.currentPeriodStart)}, current_period_end = ${ts(w.currentPeriodEnd)},
        trial_end = ${ts(w.trialEnd)}, cancel_at_period_end = ${w.cancelAtPeriodEnd}, canceled_at = ${ts(w.canceledAt)}, ended_at = ${ts(w.endedAt)},
        stripe_created_at = coalesce(stripe_created_at, ${ts(w.stripeCreatedAt)}), last_event_at = greatest(last_event_at, ${w.lastEventAt}::bigint), updated_at = now()
      where id = ${stored.id}::uuid and exists (select 1 from go)
      returning 1`
    : q`insert into subscriptions (developer_id, project_id, mode, end_user_id, stripe_customer_id, stripe_subscription_id, status, price_id, product_id,
        quantity, amount, currency, interval, interval_count, current_period_start, current_period_end, trial_end, cancel_at_period_end, canceled_at, ended_at,
        stripe_created_at, last_event_at)
      select ${scope.developerId}, ${scope.projectId}::uuid, ${scope.mode}, ${w.endUserId}, ${w.stripeCustomerId}, ${w.stripeSubscriptionId}, ${w.status}, ${w.priceId}, ${w.productId},
        ${w.quantity}::int, ${w.amount}::bigint, ${w.currency}, ${w.interval}, ${w.intervalCount}::int, ${ts(w.currentPeriodStart)}, ${ts(w.currentPeriodEnd)}, ${ts(w.trialEnd)},
        ${w.cancelAtPeriodEnd}, ${ts(w.canceledAt)}, ${ts(w.endedAt)}, ${ts(w.stripeCreatedAt)}, ${w.lastEventAt}::bigint
      where exists (select 1 from go)
      returning 1`])
  statsDeltaCtes(scope, delta, q`exists (select 1 from up)`).forEach((s, i) => ctes.push([`s${i}`, s]))
  const [row] = await runRows<{ ok: boolean, recorded: boolean }>(db, withCtes(ctes, q`select (select ok from guard) as ok, exists (select 1 from go) as recorded`))
  return { ok: row?.ok === true, recorded: row?.recorded === true }
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
