import { jsonArray, rowFromJson, type Executor } from '../../platform/db/client.ts'
import { q, raw, runRows, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { DAILY_FIELDS, CURRENT_FIELDS, type StatsScope } from '../../modules/stats/repository.ts'
import { statsDiff, type StatsDelta } from '../../modules/stats/model.ts'
import { SUBSCRIPTION_DATES, type SubscriptionWrite, type VersionedSubscriptionRow } from '../../modules/payments/subscription-repository.ts'
import { TRANSACTION_DATES, type TransactionKeys, type TransactionPlan, type VersionedTransactionRow } from '../../modules/payments/transaction-repository.ts'
import type { EventRecord } from '../repository.ts'

/**
 * Many webhook events applied in two statements: one read, one guarded write (webhooks/batcher.ts
 * decides what goes together). Both statements have one fixed text whatever the batch holds (every
 * value travels in an array parameter), so each connection prepares them once, and Postgres pays its
 * per-statement cost (a round trip, a plan, a commit and its WAL flush) once per batch, not per event.
 */

export interface EventKey { projectId: string, mode: Mode, eventId: string }

/** The recorded status of each event (null: not seen), in the order asked; one statement. */
export async function readEventStatuses (db: Executor, keys: readonly EventKey[]): Promise<Array<string | null>> {
  const rows = await runRows<{ i: number, status: string | null }>(db, q`select k.i,
      (select w.status from webhook_events w where w.project_id = k.p and w.mode = k.m and w.id = k.e) as status
    from unnest(${keys.map((_, i) => i)}::int[], ${keys.map((k) => k.projectId)}::uuid[], ${keys.map((k) => k.mode)}::text[], ${keys.map((k) => k.eventId)}::text[]) as k(i, p, m, e)`)
  const out: Array<string | null> = keys.map(() => null)
  for (const r of rows) out[Number(r.i)] = r.status ?? null
  return out
}

/** What one event's apply reads: its own status, and the rows its Stripe ids point at. */
export interface BatchReadKey extends EventKey {
  /** Also answer the end user our checkout linked to this Stripe customer. */
  customerId: string | null
  subscriptionId: string | null
  keys: TransactionKeys
}

export interface BatchRead {
  eventStatus: string | null
  customerEndUserId: string | null
  subscription: VersionedSubscriptionRow | undefined
  /** Every transaction any of the keys points at, oldest first (as readTransactionsByKeys). */
  rows: VersionedTransactionRow[]
}

const col = <T>(keys: readonly BatchReadKey[], pick: (k: BatchReadKey) => T | null | undefined): Array<T | null> => keys.map((k) => pick(k) ?? null)

// One index probe per Stripe id (a union, never an OR the planner might turn into a scan), as readTransactionsByKeys.
const BY_KEYS = raw([['stripe_checkout_session_id', 'cs'], ['stripe_payment_intent_id', 'pi'], ['stripe_invoice_id', 'inv'], ['stripe_charge_id', 'ch']]
  .map(([column, key]) => `select t.*, t.xmin::text as version from transactions t where t.project_id = k.p and t.mode = k.m and t.${column} = k.${key}`)
  .join(' union '))

/** The batch's read: one row per key, `i` its position. Every lookup is one index probe. */
export function readBatchQuery (keys: readonly BatchReadKey[]): Fragment {
  return q`select k.i,
      (select w.status from webhook_events w where w.project_id = k.p and w.mode = k.m and w.id = k.e) as event_status,
      (select c.end_user_id from customers c where c.project_id = k.p and c.mode = k.m and c.stripe_customer_id = k.cus) as customer_end_user,
      (select row_to_json(s) from (select t.*, t.xmin::text as version from subscriptions t where t.project_id = k.p and t.mode = k.m and t.stripe_subscription_id = k.sub) s) as sub,
      (select json_agg(r order by r.created_at, r.id) from (${BY_KEYS}) r) as rows
    from unnest(${keys.map((_, i) => i)}::int[], ${col(keys, (k) => k.projectId)}::uuid[], ${col(keys, (k) => k.mode)}::text[], ${col(keys, (k) => k.eventId)}::text[],
      ${col(keys, (k) => k.customerId)}::text[], ${col(keys, (k) => k.subscriptionId)}::text[], ${col(keys, (k) => k.keys.checkoutSessionId)}::text[],
      ${col(keys, (k) => k.keys.paymentIntentId)}::text[], ${col(keys, (k) => k.keys.invoiceId)}::text[], ${col(keys, (k) => k.keys.chargeId)}::text[])
      as k(i, p, m, e, cus, sub, cs, pi, inv, ch)`
}

/** One statement for the whole batch; answers in the order of `keys`. */
export async function readBatch (db: Executor, keys: readonly BatchReadKey[]): Promise<BatchRead[]> {
  const rows = await runRows<{ i: number, event_status: string | null, customer_end_user: string | null, sub: unknown, rows: unknown }>(db, readBatchQuery(keys))
  const out: BatchRead[] = keys.map(() => ({ eventStatus: null, customerEndUserId: null, subscription: undefined, rows: [] }))
  for (const r of rows) {
    out[Number(r.i)] = {
      eventStatus: r.event_status ?? null,
      customerEndUserId: r.customer_end_user ?? null,
      subscription: r.sub ? rowFromJson<VersionedSubscriptionRow>(r.sub, SUBSCRIPTION_DATES) : undefined,
      rows: r.rows ? jsonArray(r.rows).map((row) => rowFromJson<VersionedTransactionRow>(row, TRANSACTION_DATES)) : [],
    }
  }
  return out
}

/** One event's share of a batched write: its record, and at most one row change with its stats delta. */
export interface BatchWrite {
  record: EventRecord
  /** developer, project, mode and the stats shard this batch writes to. */
  scope: StatsScope
  transaction?: TransactionPlan | undefined
  subscription?: { stored: VersionedSubscriptionRow | undefined, write: SubscriptionWrite, delta: StatsDelta } | undefined
}

/**
 * Timestamps, dates and booleans travel as text[] and are cast in SQL: drizzle hands postgres.js' timestamptz[]
 * and date[] serializers a pass-through, which cannot send a JS array, and it types a boolean array as one boolean.
 */
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null)

const RECORD_SEPARATOR = '\u001e'

/**
 * The payloads as one text, joined by U+001E and split again in SQL: sent as a text[] parameter,
 * postgres.js would escape every quote of every body (a few KB each), the largest part of building
 * the batch statement. A JSON text never holds a raw U+001E (control characters appear in it only
 * escaped), and every payload here is a body that verify.ts parsed as JSON.
 */
function joinPayloads (events: readonly EventRecord[]): string {
  for (const e of events) if (e.payload.includes(RECORD_SEPARATOR)) throw new Error(`event ${e.id}: the payload is not JSON text`)
  return events.map((e) => e.payload).join(RECORD_SEPARATOR)
}

/** Columns as arrays, one entry per row. */
class Columns<R> {
  readonly rows: R[] = []
  get length (): number { return this.rows.length }
  col<T> (pick: (r: R) => T): T[] { return this.rows.map(pick) }
}

/**
 * Records every event of the batch and applies every row change and the summed stats deltas, in ONE
 * statement that is all or nothing. It first locks the rows the changes were computed from and checks
 * they are the versions read (xmin); then it records the events, which must all be new or failed
 * before. If a row changed, or another delivery recorded one of the events meanwhile, the statement
 * raises serialization_failure (40001) and writes nothing; a new row whose Stripe id a concurrent
 * insert took fails with a unique violation. Either way the caller reads again and retries.
 * Rows and stats rows must not repeat within a batch (the batcher keeps them apart).
 */
export async function writeBatch (db: Executor, writes: readonly BatchWrite[]): Promise<void> {
  const guardTx = new Columns<VersionedTransactionRow>()
  const guardSub = new Columns<VersionedSubscriptionRow>()
  const folded: string[] = []
  const txUpdates = new Columns<{ id: string, w: TransactionPlan['write'] }>()
  const txInserts = new Columns<{ scope: StatsScope, w: TransactionPlan['write'] }>()
  const subUpdates = new Columns<{ id: string, w: SubscriptionWrite }>()
  const subInserts = new Columns<{ scope: StatsScope, w: SubscriptionWrite }>()
  // Each stats row once per statement: the deltas of one scope (developer, project, mode, shard) summed.
  const deltas = new Map<string, { scope: StatsScope, deltas: StatsDelta[] }>()
  const addDelta = (scope: StatsScope, delta: StatsDelta) => {
    const key = `${scope.developerId}|${scope.projectId}|${scope.mode}|${scope.shard}`
    const group = deltas.get(key)
    if (group) group.deltas.push(delta)
    else deltas.set(key, { scope, deltas: [delta] })
  }

  for (const write of writes) {
    const t = write.transaction
    if (t) {
      if (t.keep) {
        guardTx.rows.push(t.keep, ...t.others)
        folded.push(...t.others.map((r) => r.id))
        txUpdates.rows.push({ id: t.keep.id, w: t.write })
      } else {
        txInserts.rows.push({ scope: write.scope, w: t.write })
      }
      addDelta(write.scope, t.delta)
    }
    const s = write.subscription
    if (s) {
      if (s.stored) {
        guardSub.rows.push(s.stored)
        subUpdates.rows.push({ id: s.stored.id, w: s.write })
      } else {
        subInserts.rows.push({ scope: write.scope, w: s.write })
      }
      addDelta(write.scope, s.delta)
    }
  }
  const events = writes.map((w) => w.record)
  const summed = [...deltas.values()].map(({ scope, deltas }) => ({ scope, delta: statsDiff(deltas, []) }))
  // In one order across every writer (currency, month, then the month rows' other keys, then day), so two
  // batches lock stats_daily rows and the month rows its trigger updates in the same order: no deadlock.
  const orderKey = ({ scope, d }: { scope: StatsScope, d: StatsDelta['daily'][number] }) =>
    `${d.currency}|${d.day.slice(0, 7)}|${scope.developerId}|${scope.mode}|${scope.shard}|${scope.projectId}|${d.day}`
  const dailyRows = summed.flatMap(({ scope, delta }) => delta.daily.map((d) => ({ scope, d })))
    .map((r) => ({ ...r, key: orderKey(r) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  const currentRows = summed.flatMap(({ scope, delta }) => delta.current.map((c) => ({ scope, c })))
  const tu = txUpdates.col((r) => r.w)
  const ti = txInserts.col((r) => r.w)
  const su = subUpdates.col((r) => r.w)
  const si = subInserts.col((r) => r.w)

  await runRows(db, q`with
    locked_t as (select id, xmin::text as v from transactions where id = any(${guardTx.col((r) => r.id)}::uuid[]) for update),
    locked_s as (select id, xmin::text as v from subscriptions where id = any(${guardSub.col((r) => r.id)}::uuid[]) for update),
    guard as (select webhook_write_conflict_unless(
      (select count(*) from locked_t l join unnest(${guardTx.col((r) => r.id)}::uuid[], ${guardTx.col((r) => r.version)}::text[]) as e(id, v) on e.id = l.id and e.v = l.v) = ${guardTx.length}::int
      and (select count(*) from locked_s l join unnest(${guardSub.col((r) => r.id)}::uuid[], ${guardSub.col((r) => r.version)}::text[]) as e(id, v) on e.id = l.id and e.v = l.v) = ${guardSub.length}::int,
      'a row changed since it was read') as ok),
    go as (insert into webhook_events (project_id, mode, id, type, status, attempts, error, event_created, payload, processed_at)
      select e.p, e.m, e.id, e.type, 'processed', 1, null, e.created, e.payload, now()
      from unnest(${events.map((e) => e.projectId)}::uuid[], ${events.map((e) => e.mode)}::text[], ${events.map((e) => e.id)}::text[], ${events.map((e) => e.type)}::text[],
        ${events.map((e) => e.created)}::bigint[], string_to_array(${joinPayloads(events)}::text, chr(30))) as e(p, m, id, type, created, payload)
      where (select ok from guard)
      on conflict (project_id, mode, id) do update set status = excluded.status, attempts = webhook_events.attempts + 1, error = null, processed_at = now()
      where webhook_events.status = 'failed'
      returning 1),
    rec as (select webhook_write_conflict_unless((select count(*) from go) = ${events.length}::int, 'an event was recorded by another delivery') as ok),
    folded as (delete from transactions where id = any(${folded}::uuid[]) and (select ok from rec) returning 1),
    t_up as (update transactions t set end_user_id = u.end_user_id, kind = u.kind, status = u.status, amount = u.amount, amount_refunded = u.amount_refunded,
        currency = u.currency, description = u.description, stripe_customer_id = u.customer, stripe_checkout_session_id = u.cs, stripe_payment_intent_id = u.pi,
        stripe_invoice_id = u.inv, stripe_charge_id = u.ch, stripe_subscription_id = u.sub, last_event_at = u.last_event_at, succeeded_at = u.succeeded_at,
        failed_at = u.failed_at, refunded_at = u.refunded_at, updated_at = now()
      from unnest(${txUpdates.col((r) => r.id)}::uuid[], ${tu.map((w) => w.endUserId)}::text[], ${tu.map((w) => w.kind)}::text[], ${tu.map((w) => w.status)}::text[],
        ${tu.map((w) => w.amount)}::bigint[], ${tu.map((w) => w.amountRefunded)}::bigint[], ${tu.map((w) => w.currency)}::text[], ${tu.map((w) => w.description)}::text[],
        ${tu.map((w) => w.stripeCustomerId)}::text[], ${tu.map((w) => w.stripeCheckoutSessionId)}::text[], ${tu.map((w) => w.stripePaymentIntentId)}::text[],
        ${tu.map((w) => w.stripeInvoiceId)}::text[], ${tu.map((w) => w.stripeChargeId)}::text[], ${tu.map((w) => w.stripeSubscriptionId)}::text[],
        ${tu.map((w) => w.lastEventAt)}::bigint[], ${tu.map((w) => iso(w.succeededAt))}::text[]::timestamptz[], ${tu.map((w) => iso(w.failedAt))}::text[]::timestamptz[],
        ${tu.map((w) => iso(w.refundedAt))}::text[]::timestamptz[])
        as u(id, end_user_id, kind, status, amount, amount_refunded, currency, description, customer, cs, pi, inv, ch, sub, last_event_at, succeeded_at, failed_at, refunded_at)
      where t.id = u.id and (select ok from rec) and (select count(*) from folded) >= 0
      returning 1),
    t_ins as (insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id,
        stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, last_event_at, succeeded_at, failed_at, refunded_at)
      select * from unnest(${txInserts.col((r) => r.scope.developerId)}::text[], ${txInserts.col((r) => r.scope.projectId)}::uuid[], ${txInserts.col((r) => r.scope.mode)}::text[],
        ${ti.map((w) => w.endUserId)}::text[], ${ti.map((w) => w.kind)}::text[], ${ti.map((w) => w.status)}::text[], ${ti.map((w) => w.amount)}::bigint[],
        ${ti.map((w) => w.amountRefunded)}::bigint[], ${ti.map((w) => w.currency)}::text[], ${ti.map((w) => w.description)}::text[], ${ti.map((w) => w.stripeCustomerId)}::text[],
        ${ti.map((w) => w.stripeCheckoutSessionId)}::text[], ${ti.map((w) => w.stripePaymentIntentId)}::text[], ${ti.map((w) => w.stripeInvoiceId)}::text[],
        ${ti.map((w) => w.stripeChargeId)}::text[], ${ti.map((w) => w.stripeSubscriptionId)}::text[], ${ti.map((w) => w.lastEventAt)}::bigint[],
        ${ti.map((w) => iso(w.succeededAt))}::text[]::timestamptz[], ${ti.map((w) => iso(w.failedAt))}::text[]::timestamptz[], ${ti.map((w) => iso(w.refundedAt))}::text[]::timestamptz[])
      where (select ok from rec)
      returning 1),
    s_up as (update subscriptions s set end_user_id = coalesce(s.end_user_id, u.end_user_id), stripe_customer_id = u.customer, status = u.status, price_id = u.price_id,
        product_id = u.product_id, quantity = u.quantity, amount = u.amount, currency = u.currency, interval = u.interval, interval_count = u.interval_count,
        current_period_start = u.current_period_start, current_period_end = u.current_period_end, trial_end = u.trial_end, cancel_at_period_end = u.cancel_at_period_end,
        canceled_at = u.canceled_at, ended_at = u.ended_at, stripe_created_at = coalesce(s.stripe_created_at, u.stripe_created_at),
        last_event_at = greatest(s.last_event_at, u.last_event_at), updated_at = now()
      from unnest(${subUpdates.col((r) => r.id)}::uuid[], ${su.map((w) => w.endUserId)}::text[], ${su.map((w) => w.stripeCustomerId)}::text[], ${su.map((w) => w.status)}::text[],
        ${su.map((w) => w.priceId)}::text[], ${su.map((w) => w.productId)}::text[], ${su.map((w) => w.quantity)}::int[], ${su.map((w) => w.amount)}::bigint[],
        ${su.map((w) => w.currency)}::text[], ${su.map((w) => w.interval)}::text[], ${su.map((w) => w.intervalCount)}::int[], ${su.map((w) => iso(w.currentPeriodStart))}::text[]::timestamptz[],
        ${su.map((w) => iso(w.currentPeriodEnd))}::text[]::timestamptz[], ${su.map((w) => iso(w.trialEnd))}::text[]::timestamptz[], ${su.map((w) => String(w.cancelAtPeriodEnd))}::text[]::boolean[],
        ${su.map((w) => iso(w.canceledAt))}::text[]::timestamptz[], ${su.map((w) => iso(w.endedAt))}::text[]::timestamptz[], ${su.map((w) => iso(w.stripeCreatedAt))}::text[]::timestamptz[],
        ${su.map((w) => w.lastEventAt)}::bigint[])
        as u(id, end_user_id, customer, status, price_id, product_id, quantity, amount, currency, interval, interval_count, current_period_start, current_period_end,
          trial_end, cancel_at_period_end, canceled_at, ended_at, stripe_created_at, last_event_at)
      where s.id = u.id and (select ok from rec)
      returning 1),
    s_ins as (insert into subscriptions (developer_id, project_id, mode, end_user_id, stripe_customer_id, stripe_subscription_id, status, price_id, product_id,
        quantity, amount, currency, interval, interval_count, current_period_start, current_period_end, trial_end, cancel_at_period_end, canceled_at, ended_at,
        stripe_created_at, last_event_at)
      select * from unnest(${subInserts.col((r) => r.scope.developerId)}::text[], ${subInserts.col((r) => r.scope.projectId)}::uuid[], ${subInserts.col((r) => r.scope.mode)}::text[],
        ${si.map((w) => w.endUserId)}::text[], ${si.map((w) => w.stripeCustomerId)}::text[], ${si.map((w) => w.stripeSubscriptionId)}::text[], ${si.map((w) => w.status)}::text[],
        ${si.map((w) => w.priceId)}::text[], ${si.map((w) => w.productId)}::text[], ${si.map((w) => w.quantity)}::int[], ${si.map((w) => w.amount)}::bigint[],
        ${si.map((w) => w.currency)}::text[], ${si.map((w) => w.interval)}::text[], ${si.map((w) => w.intervalCount)}::int[], ${si.map((w) => iso(w.currentPeriodStart))}::text[]::timestamptz[],
        ${si.map((w) => iso(w.currentPeriodEnd))}::text[]::timestamptz[], ${si.map((w) => iso(w.trialEnd))}::text[]::timestamptz[], ${si.map((w) => String(w.cancelAtPeriodEnd))}::text[]::boolean[],
        ${si.map((w) => iso(w.canceledAt))}::text[]::timestamptz[], ${si.map((w) => iso(w.endedAt))}::text[]::timestamptz[], ${si.map((w) => iso(w.stripeCreatedAt))}::text[]::timestamptz[],
        ${si.map((w) => w.lastEventAt)}::bigint[])
      where (select ok from rec)
      returning 1),
    sd as (insert into stats_daily (developer_id, project_id, mode, day, currency, shard, ${DAILY_COLUMNS})
      select * from unnest(${dailyRows.map((r) => r.scope.developerId)}::text[], ${dailyRows.map((r) => r.scope.projectId)}::uuid[], ${dailyRows.map((r) => r.scope.mode)}::text[],
        ${dailyRows.map((r) => r.d.day)}::text[]::date[], ${dailyRows.map((r) => r.d.currency)}::text[], ${dailyRows.map((r) => r.scope.shard)}::smallint[],
        ${dailyRows.map((r) => r.d.gross)}::bigint[], ${dailyRows.map((r) => r.d.refunded)}::bigint[], ${dailyRows.map((r) => r.d.succeededCount)}::int[],
        ${dailyRows.map((r) => r.d.failedCount)}::int[], ${dailyRows.map((r) => r.d.newSubscriptions)}::int[], ${dailyRows.map((r) => r.d.canceledSubscriptions)}::int[])
      where (select ok from rec)
      on conflict (developer_id, project_id, mode, day, currency, shard) do update set ${DAILY_ADD}),
    sc as (insert into stats_subscriptions (developer_id, project_id, mode, currency, shard, ${CURRENT_COLUMNS})
      select * from unnest(${currentRows.map((r) => r.scope.developerId)}::text[], ${currentRows.map((r) => r.scope.projectId)}::uuid[], ${currentRows.map((r) => r.scope.mode)}::text[],
        ${currentRows.map((r) => r.c.currency)}::text[], ${currentRows.map((r) => r.scope.shard)}::smallint[], ${currentRows.map((r) => r.c.active)}::int[],
        ${currentRows.map((r) => r.c.trialing)}::int[], ${currentRows.map((r) => r.c.pastDue)}::int[], ${currentRows.map((r) => r.c.canceled)}::int[],
        ${currentRows.map((r) => r.c.incomplete)}::int[], ${currentRows.map((r) => r.c.unpaid)}::int[], ${currentRows.map((r) => r.c.paused)}::int[], ${currentRows.map((r) => r.c.mrr)}::bigint[])
      where (select ok from rec)
      on conflict (developer_id, project_id, mode, currency, shard) do update set ${CURRENT_ADD})
    select (select ok from rec) as ok`)
}

const DAILY_COLUMNS = raw(DAILY_FIELDS.join(', '))
const CURRENT_COLUMNS = raw(CURRENT_FIELDS.join(', '))
const DAILY_ADD = raw(DAILY_FIELDS.map((c) => `${c} = stats_daily.${c} + excluded.${c}`).join(', '))
const CURRENT_ADD = raw(CURRENT_FIELDS.map((c) => `${c} = stats_subscriptions.${c} + excluded.${c}`).join(', '))
