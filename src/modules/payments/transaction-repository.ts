import type { Executor } from '../../platform/db/client.ts'
import { jsonArray, rowFromJson } from '../../platform/db/client.ts'
import { join, q, raw, runRows, withCtes, type Fragment } from '../../platform/db/statement.ts'
import type { transactions } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { StatsDelta } from '../stats/model.ts'
import { statsDeltaCtes, type StatsScope } from '../stats/repository.ts'
import { eventStatusSql, recordEventSql, type EventRecordWrite } from '../../webhooks/repository.ts'

export type TransactionRow = typeof transactions.$inferSelect

export interface TransactionKeys {
  checkoutSessionId?: string | null | undefined
  paymentIntentId?: string | null | undefined
  invoiceId?: string | null | undefined
  chargeId?: string | null | undefined
}

/** A row as read for a guarded write: `version` is its xmin, which any later write changes. */
export type VersionedTransactionRow = TransactionRow & { version: string }

export const TRANSACTION_DATES = ['createdAt', 'updatedAt', 'succeededAt', 'failedAt', 'refundedAt'] as const

/** What a handler reads before merging: the rows, and on request the event's status and the customer's end user. */
export interface TransactionRead {
  rows: VersionedTransactionRow[]
  eventStatus: string | null
  customerEndUserId: string | null
}

export interface TransactionReadOptions {
  /** Also answer this event's status (a settled one is a duplicate). */
  eventId?: string | null
  /** Also answer the end user our checkout linked to this Stripe customer. */
  customerId?: string | null
}

/**
 * Every row that any of the Stripe ids points at (usually one; two or three when they must merge),
 * oldest first, in one round trip. One index lookup per id (a union, never an OR the planner might
 * turn into a scan of the project's rows).
 */
export async function readTransactionsByKeys (db: Executor, projectId: string, mode: Mode, keys: TransactionKeys, options: TransactionReadOptions = {}): Promise<TransactionRead> {
  const lookups: Fragment[] = []
  const by = (column: string, value: string) =>
    q`select t.*, t.xmin::text as version from transactions t where t.project_id = ${projectId}::uuid and t.mode = ${mode} and t.${raw(column)} = ${value}`
  if (keys.checkoutSessionId) lookups.push(by('stripe_checkout_session_id', keys.checkoutSessionId))
  if (keys.paymentIntentId) lookups.push(by('stripe_payment_intent_id', keys.paymentIntentId))
  if (keys.invoiceId) lookups.push(by('stripe_invoice_id', keys.invoiceId))
  if (keys.chargeId) lookups.push(by('stripe_charge_id', keys.chargeId))
  const rows = lookups.length === 0
    ? q`'[]'::json`
    : q`(select coalesce(json_agg(r order by r.created_at, r.id), '[]'::json) from (${join(lookups, ' union ')}) r)`
  const [row] = await runRows<{ rows: unknown, event_status: string | null, customer_end_user: string | null }>(db, q`select ${rows} as rows,
    ${options.eventId ? eventStatusSql(projectId, mode, options.eventId) : q`null::text`} as event_status,
    ${options.customerId ? q`(select end_user_id from customers where project_id = ${projectId}::uuid and mode = ${mode} and stripe_customer_id = ${options.customerId})` : q`null::text`} as customer_end_user`)
  return {
    rows: jsonArray(row?.rows).map((r) => rowFromJson<VersionedTransactionRow>(r, TRANSACTION_DATES)),
    eventStatus: row?.event_status ?? null,
    customerEndUserId: row?.customer_end_user ?? null,
  }
}

export type TransactionWrite = Pick<TransactionRow,
  'endUserId' | 'kind' | 'status' | 'amount' | 'amountRefunded' | 'currency' | 'description' | 'stripeCustomerId' | 'stripeCheckoutSessionId' |
  'stripePaymentIntentId' | 'stripeInvoiceId' | 'stripeChargeId' | 'stripeSubscriptionId' | 'lastEventAt' | 'succeededAt' | 'failedAt' | 'refundedAt'>

const ts = (d: Date | null): Fragment => (d ? q`${d.toISOString()}::timestamptz` : raw('null::timestamptz'))

/** The merge a handler computed: rows folded into `keep` (or a new row), the row's new state, the stats delta. */
export interface TransactionPlan {
  keep: VersionedTransactionRow | null
  others: VersionedTransactionRow[]
  write: TransactionWrite
  delta: StatsDelta
}

/**
 * Writes a merge in ONE statement, guarded: it locks the rows the merge was computed from and goes on
 * only if none changed since they were read (same xmin). Then, in order: the event record (when the
 * caller has one pending; a duplicate stops everything), the folded rows' delete (their unique ids
 * move to the kept row), the row's insert or update, and the stats delta. A new row relies on the
 * unique ids instead: a concurrent insert makes the statement fail with a unique violation, and the
 * caller runs again. `ok` false: something changed, nothing was written.
 */
export async function writeTransactionGuarded (db: Executor, scope: StatsScope, plan: TransactionPlan, record: EventRecordWrite | null): Promise<{ ok: boolean, recorded: boolean }> {
  const read = plan.keep ? [plan.keep, ...plan.others] : []
  const ctes: Array<[string, Fragment]> = []
  if (read.length > 0) {
    const ids = `{${read.map((r) => r.id).join(',')}}`
    const versions = `{${read.map((r) => r.version).join(',')}}`
    ctes.push(['locked', q`select id, xmin::text as v from transactions where id = any(${ids}::uuid[]) for update`])
    ctes.push(['guard', q`select count(*) = ${read.length}::int as ok from locked l join unnest(${ids}::uuid[], ${versions}::text[]) as e(id, v) on e.id = l.id and e.v = l.v`])
  } else {
    ctes.push(['guard', q`select true as ok`])
  }
  ctes.push(['go', record
    ? q`${recordEventSql(record.event, 'processed', record.force, q`(select ok from guard)`)}`
    : q`select 1 where (select ok from guard)`])
  let after = q`exists (select 1 from go)`
  if (plan.others.length > 0) {
    ctes.push(['folded', q`delete from transactions where id = any(${`{${plan.others.map((r) => r.id).join(',')}}`}::uuid[]) and exists (select 1 from go) returning 1`])
    after = q`exists (select 1 from go) and (select count(*) from folded) >= 0`
  }
  const w = plan.write
  ctes.push(['w', plan.keep === null
    ? q`insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id,
        stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, last_event_at, succeeded_at, failed_at, refunded_at)
      select ${scope.developerId}, ${scope.projectId}::uuid, ${scope.mode}, ${w.endUserId}, ${w.kind}, ${w.status}, ${w.amount}::bigint, ${w.amountRefunded}::bigint, ${w.currency},
        ${w.description}, ${w.stripeCustomerId}, ${w.stripeCheckoutSessionId}, ${w.stripePaymentIntentId}, ${w.stripeInvoiceId}, ${w.stripeChargeId}, ${w.stripeSubscriptionId},
        ${w.lastEventAt}::bigint, ${ts(w.succeededAt)}, ${ts(w.failedAt)}, ${ts(w.refundedAt)}
      where ${after}
      returning 1`
    : q`update transactions set end_user_id = ${w.endUserId}, kind = ${w.kind}, status = ${w.status}, amount = ${w.amount}::bigint, amount_refunded = ${w.amountRefunded}::bigint,
        currency = ${w.currency}, description = ${w.description}, stripe_customer_id = ${w.stripeCustomerId}, stripe_checkout_session_id = ${w.stripeCheckoutSessionId},
        stripe_payment_intent_id = ${w.stripePaymentIntentId}, stripe_invoice_id = ${w.stripeInvoiceId}, stripe_charge_id = ${w.stripeChargeId},
        stripe_subscription_id = ${w.stripeSubscriptionId}, last_event_at = ${w.lastEventAt}::bigint, succeeded_at = ${ts(w.succeededAt)}, failed_at = ${ts(w.failedAt)},
        refunded_at = ${ts(w.refundedAt)}, updated_at = now()
      where id = ${plan.keep.id}::uuid and ${after}
      returning 1`])
  statsDeltaCtes(scope, plan.delta, q`exists (select 1 from w)`).forEach((s, i) => ctes.push([`s${i}`, s]))
  const [row] = await runRows<{ ok: boolean, recorded: boolean }>(db, withCtes(ctes, q`select (select ok from guard) as ok, exists (select 1 from go) as recorded`))
  return { ok: row?.ok === true, recorded: row?.recorded === true }
}
