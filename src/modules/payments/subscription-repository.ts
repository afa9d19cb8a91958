import { rowFromJson } from '../../platform/db/client.ts'
import type { ReadKind, WriteKind } from '../../platform/db/effects.ts'
import { q, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { SUBSCRIPTION_DATES, type SubscriptionWrite, type VersionedSubscriptionRow } from './subscription-model.ts'
import { isoOrNull } from '../../platform/time.ts'

/** One subscription of a project and mode, by its Stripe id. */
export interface SubscriptionLookup { projectId: string, mode: Mode, subscriptionId: string }

/** The stored subscription with its version (undefined: not stored yet). */
export const subscriptionById: ReadKind<SubscriptionLookup, VersionedSubscriptionRow | undefined> = {
  name: 'subscription by Stripe id',
  inputs: [
    { name: 'p', type: 'uuid', pick: (l) => l.projectId },
    { name: 'm', type: 'text', pick: (l) => l.mode },
    { name: 'sub', type: 'text', pick: (l) => l.subscriptionId },
  ],
  select: (arg) => q`select row_to_json(s) from (select t.*, t.xmin::text as version from subscriptions t
    where t.project_id = ${arg('p')} and t.mode = ${arg('m')} and t.stripe_subscription_id = ${arg('sub')}) s`,
  parse: (value) => (value ? rowFromJson<VersionedSubscriptionRow>(value, SUBSCRIPTION_DATES) : undefined),
}

/** A subscription state that won over the stored row (none: a new row), for the project and mode of `scope`. */
export interface SubscriptionUpsert {
  scope: { developerId: string, projectId: string, mode: Mode }
  stored: VersionedSubscriptionRow | undefined
  write: SubscriptionWrite
}

/**
 * Every subscription state of a batch: stored rows replaced (the pipeline guards their version), new
 * ones inserted (a concurrent insert of the same id fails the statement with a unique violation).
 * The end user, once linked, and Stripe's creation time are kept; `last_event_at` only grows.
 * Timestamps (isoOrNull) and booleans travel as text[] and are cast in SQL: drizzle hands postgres.js'
 * timestamptz[] serializer a pass-through, which cannot send a JS array, and it types a boolean array as one boolean.
 */
export const subscriptionUpserts: WriteKind<SubscriptionUpsert> = {
  name: 'subscription upserts',
  ctes (items, gate) {
    const su = items.filter((u) => u.stored).map((u) => u.write)
    const ids = items.filter((u) => u.stored).map((u) => u.stored?.id ?? '')
    const inserts = items.filter((u) => !u.stored)
    const si = inserts.map((u) => u.write)
    const ctes: Array<[string, Fragment]> = []
    if (su.length > 0) {
      ctes.push(['sub_updated', q`update subscriptions s set end_user_id = coalesce(s.end_user_id, u.end_user_id), stripe_customer_id = u.customer, status = u.status, price_id = u.price_id,
            product_id = u.product_id, quantity = u.quantity, amount = u.amount, currency = u.currency, interval = u.interval, interval_count = u.interval_count,
            current_period_start = u.current_period_start, current_period_end = u.current_period_end, trial_end = u.trial_end, cancel_at_period_end = u.cancel_at_period_end,
            canceled_at = u.canceled_at, pause_collection = u.pause_collection, pause_resumes_at = u.pause_resumes_at, ended_at = u.ended_at, stripe_created_at = coalesce(s.stripe_created_at, u.stripe_created_at),
            last_event_at = greatest(s.last_event_at, u.last_event_at), updated_at = now()
          from unnest(${ids}::uuid[], ${su.map((w) => w.endUserId)}::text[], ${su.map((w) => w.stripeCustomerId)}::text[], ${su.map((w) => w.status)}::text[],
            ${su.map((w) => w.priceId)}::text[], ${su.map((w) => w.productId)}::text[], ${su.map((w) => w.quantity)}::int[], ${su.map((w) => w.amount)}::bigint[],
            ${su.map((w) => w.currency)}::text[], ${su.map((w) => w.interval)}::text[], ${su.map((w) => w.intervalCount)}::int[], ${su.map((w) => isoOrNull(w.currentPeriodStart))}::text[]::timestamptz[],
            ${su.map((w) => isoOrNull(w.currentPeriodEnd))}::text[]::timestamptz[], ${su.map((w) => isoOrNull(w.trialEnd))}::text[]::timestamptz[], ${su.map((w) => String(w.cancelAtPeriodEnd))}::text[]::boolean[],
            ${su.map((w) => isoOrNull(w.canceledAt))}::text[]::timestamptz[], ${su.map((w) => w.pauseCollection)}::text[], ${su.map((w) => isoOrNull(w.pauseResumesAt))}::text[]::timestamptz[], ${su.map((w) => isoOrNull(w.endedAt))}::text[]::timestamptz[], ${su.map((w) => isoOrNull(w.stripeCreatedAt))}::text[]::timestamptz[],
            ${su.map((w) => w.lastEventAt)}::bigint[])
            as u(id, end_user_id, customer, status, price_id, product_id, quantity, amount, currency, interval, interval_count, current_period_start, current_period_end,
              trial_end, cancel_at_period_end, canceled_at, pause_collection, pause_resumes_at, ended_at, stripe_created_at, last_event_at)
          where s.id = u.id and ${gate}
          returning 1`])
    }
    if (si.length > 0) {
      ctes.push(['sub_inserted', q`insert into subscriptions (developer_id, project_id, mode, end_user_id, stripe_customer_id, stripe_subscription_id, status, price_id, product_id,
            quantity, amount, currency, interval, interval_count, current_period_start, current_period_end, trial_end, cancel_at_period_end, canceled_at,
            pause_collection, pause_resumes_at, ended_at, stripe_created_at, last_event_at)
          select * from unnest(${inserts.map((u) => u.scope.developerId)}::text[], ${inserts.map((u) => u.scope.projectId)}::uuid[], ${inserts.map((u) => u.scope.mode)}::text[],
            ${si.map((w) => w.endUserId)}::text[], ${si.map((w) => w.stripeCustomerId)}::text[], ${si.map((w) => w.stripeSubscriptionId)}::text[], ${si.map((w) => w.status)}::text[],
            ${si.map((w) => w.priceId)}::text[], ${si.map((w) => w.productId)}::text[], ${si.map((w) => w.quantity)}::int[], ${si.map((w) => w.amount)}::bigint[],
            ${si.map((w) => w.currency)}::text[], ${si.map((w) => w.interval)}::text[], ${si.map((w) => w.intervalCount)}::int[], ${si.map((w) => isoOrNull(w.currentPeriodStart))}::text[]::timestamptz[],
            ${si.map((w) => isoOrNull(w.currentPeriodEnd))}::text[]::timestamptz[], ${si.map((w) => isoOrNull(w.trialEnd))}::text[]::timestamptz[], ${si.map((w) => String(w.cancelAtPeriodEnd))}::text[]::boolean[],
            ${si.map((w) => isoOrNull(w.canceledAt))}::text[]::timestamptz[], ${si.map((w) => w.pauseCollection)}::text[], ${si.map((w) => isoOrNull(w.pauseResumesAt))}::text[]::timestamptz[], ${si.map((w) => isoOrNull(w.endedAt))}::text[]::timestamptz[], ${si.map((w) => isoOrNull(w.stripeCreatedAt))}::text[]::timestamptz[],
            ${si.map((w) => w.lastEventAt)}::bigint[])
          where ${gate}
          returning 1`])
    }
    return { ctes }
  },
}

/** A subscription the checkout created, and the end user it was for. */
export interface SubscriptionEndUserLink { projectId: string, mode: Mode, subscriptionId: string, endUserId: string }

/** Links subscriptions to their end users, once: a row that has one keeps it (checkout.session.completed). */
export const subscriptionEndUserLinks: WriteKind<SubscriptionEndUserLink> = {
  name: 'subscription end-user links',
  ctes: (items, gate) => ({
    ctes: [['sub_linked', q`update subscriptions s set end_user_id = u.eu, updated_at = now()
      from unnest(${items.map((l) => l.projectId)}::uuid[], ${items.map((l) => l.mode)}::text[], ${items.map((l) => l.subscriptionId)}::text[], ${items.map((l) => l.endUserId)}::text[]) as u(p, m, sub, eu)
      where s.project_id = u.p and s.mode = u.m and s.stripe_subscription_id = u.sub and s.end_user_id is null and ${gate}
      returning 1`]],
  }),
}
