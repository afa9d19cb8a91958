import { jsonArray, rowFromJson } from '../../platform/db/client.ts'
import type { ReadKind, WriteKind } from '../../platform/db/effects.ts'
import { join, q, raw, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { TRANSACTION_DATES, type TransactionKeys, type TransactionPlan, type VersionedTransactionRow } from './transaction-model.ts'
import { isoOrNull } from '../../platform/time.ts'

/** The rows of one project and mode that any of these Stripe ids points at. */
export interface TransactionLookup { projectId: string, mode: Mode, keys: TransactionKeys }

// One index probe per Stripe id (a union, never an OR the planner might turn into a scan of the project's rows).
const BY_KEYS = [['stripe_checkout_session_id', 'cs'], ['stripe_payment_intent_id', 'pi'], ['stripe_invoice_id', 'inv'], ['stripe_charge_id', 'ch']] as const

/** Every row the ids point at (usually one; two or three when they must merge), oldest first, with its version. */
export const transactionsByKeys: ReadKind<TransactionLookup, VersionedTransactionRow[]> = {
  name: 'transactions by Stripe ids',
  inputs: [
    { name: 'p', type: 'uuid', pick: (l) => l.projectId },
    { name: 'm', type: 'text', pick: (l) => l.mode },
    { name: 'cs', type: 'text', pick: (l) => l.keys.checkoutSessionId },
    { name: 'pi', type: 'text', pick: (l) => l.keys.paymentIntentId },
    { name: 'inv', type: 'text', pick: (l) => l.keys.invoiceId },
    { name: 'ch', type: 'text', pick: (l) => l.keys.chargeId },
  ],
  select: (arg) => q`select json_agg(r order by r.created_at, r.id) from (${join(BY_KEYS.map(([column, key]) =>
    q`select t.*, t.xmin::text as version from transactions t where t.project_id = ${arg('p')} and t.mode = ${arg('m')} and t.${raw(column)} = ${arg(key)}`), ' union ')}) r`,
  parse: (value) => (value ? jsonArray(value).map((row) => rowFromJson<VersionedTransactionRow>(row, TRANSACTION_DATES)) : []),
}

/** A merge to write: for the project and mode of `scope`. */
export interface TransactionMerge { scope: { developerId: string, projectId: string, mode: Mode }, plan: TransactionPlan }

/**
 * Every merge of a batch: the rows folded into a kept one are deleted first (their unique ids move to
 * the kept row), then the kept rows are updated and the new ones inserted. The rows a merge was
 * computed from are guarded by the pipeline (locked, same version); a new row relies on the unique
 * ids instead: a concurrent insert fails the statement with a unique violation, and it runs again.
 * Timestamps travel as text[] (isoOrNull) and are cast in SQL: drizzle hands postgres.js' timestamptz[]
 * serializer a pass-through, which cannot send a JS array.
 */
export const transactionMerges: WriteKind<TransactionMerge> = {
  name: 'transaction merges',
  ctes (items, gate) {
    const updates = items.filter((m) => m.plan.keep)
    const inserts = items.filter((m) => !m.plan.keep).map((m) => ({ scope: m.scope, w: m.plan.write }))
    const folded = items.flatMap((m) => m.plan.others.map((r) => r.id))
    const ids = updates.map((m) => m.plan.keep?.id ?? '')
    const tu = updates.map((m) => m.plan.write)
    const ti = inserts.map((r) => r.w)
    const ctes: Array<[string, Fragment]> = []
    if (folded.length > 0) ctes.push(['tx_folded', q`delete from transactions where id = any(${folded}::uuid[]) and ${gate} returning 1`])
    if (updates.length > 0) {
      ctes.push(['tx_updated', q`update transactions t set end_user_id = u.end_user_id, kind = u.kind, status = u.status, amount = u.amount, amount_refunded = u.amount_refunded,
            currency = u.currency, description = u.description, stripe_customer_id = u.customer, stripe_checkout_session_id = u.cs, stripe_payment_intent_id = u.pi,
            stripe_invoice_id = u.inv, stripe_charge_id = u.ch, stripe_subscription_id = u.sub, last_event_at = u.last_event_at, succeeded_at = u.succeeded_at,
            failed_at = u.failed_at, refunded_at = u.refunded_at, updated_at = now()
          from unnest(${ids}::uuid[], ${tu.map((w) => w.endUserId)}::text[], ${tu.map((w) => w.kind)}::text[], ${tu.map((w) => w.status)}::text[],
            ${tu.map((w) => w.amount)}::bigint[], ${tu.map((w) => w.amountRefunded)}::bigint[], ${tu.map((w) => w.currency)}::text[], ${tu.map((w) => w.description)}::text[],
            ${tu.map((w) => w.stripeCustomerId)}::text[], ${tu.map((w) => w.stripeCheckoutSessionId)}::text[], ${tu.map((w) => w.stripePaymentIntentId)}::text[],
            ${tu.map((w) => w.stripeInvoiceId)}::text[], ${tu.map((w) => w.stripeChargeId)}::text[], ${tu.map((w) => w.stripeSubscriptionId)}::text[],
            ${tu.map((w) => w.lastEventAt)}::bigint[], ${tu.map((w) => isoOrNull(w.succeededAt))}::text[]::timestamptz[], ${tu.map((w) => isoOrNull(w.failedAt))}::text[]::timestamptz[],
            ${tu.map((w) => isoOrNull(w.refundedAt))}::text[]::timestamptz[])
            as u(id, end_user_id, kind, status, amount, amount_refunded, currency, description, customer, cs, pi, inv, ch, sub, last_event_at, succeeded_at, failed_at, refunded_at)
          where t.id = u.id and ${gate}${folded.length > 0 ? raw(' and (select count(*) from tx_folded) >= 0') : raw('')}
          returning 1`])
    }
    if (inserts.length > 0) {
      ctes.push(['tx_inserted', q`insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id,
            stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, last_event_at, succeeded_at, failed_at, refunded_at)
          select * from unnest(${inserts.map((r) => r.scope.developerId)}::text[], ${inserts.map((r) => r.scope.projectId)}::uuid[], ${inserts.map((r) => r.scope.mode)}::text[],
            ${ti.map((w) => w.endUserId)}::text[], ${ti.map((w) => w.kind)}::text[], ${ti.map((w) => w.status)}::text[], ${ti.map((w) => w.amount)}::bigint[],
            ${ti.map((w) => w.amountRefunded)}::bigint[], ${ti.map((w) => w.currency)}::text[], ${ti.map((w) => w.description)}::text[], ${ti.map((w) => w.stripeCustomerId)}::text[],
            ${ti.map((w) => w.stripeCheckoutSessionId)}::text[], ${ti.map((w) => w.stripePaymentIntentId)}::text[], ${ti.map((w) => w.stripeInvoiceId)}::text[],
            ${ti.map((w) => w.stripeChargeId)}::text[], ${ti.map((w) => w.stripeSubscriptionId)}::text[], ${ti.map((w) => w.lastEventAt)}::bigint[],
            ${ti.map((w) => isoOrNull(w.succeededAt))}::text[]::timestamptz[], ${ti.map((w) => isoOrNull(w.failedAt))}::text[]::timestamptz[], ${ti.map((w) => isoOrNull(w.refundedAt))}::text[]::timestamptz[])
          where ${gate}
          returning 1`])
    }
    return { ctes }
  },
}
