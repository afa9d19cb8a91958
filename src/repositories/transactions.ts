import { and, eq, inArray, or, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { queryRows } from '../db/client.ts'
import { transactions } from '../db/schema.ts'
import type { Mode } from '../lib/stripe.ts'
import type { StatsDelta } from '../services/stats-contributions.ts'
import { statsDeltaCtes, withCtes, type StatsScope } from './stats.ts'

export type TransactionRow = typeof transactions.$inferSelect

export interface TransactionKeys {
  checkoutSessionId?: string | null | undefined
  paymentIntentId?: string | null | undefined
  invoiceId?: string | null | undefined
  chargeId?: string | null | undefined
}

/** Every row that any of the Stripe ids points at (usually one; two or three when they must merge). */
export async function findTransactionsByKeys (db: Executor, projectId: string, mode: Mode, keys: TransactionKeys): Promise<TransactionRow[]> {
  const matches: SQL[] = []
  if (keys.checkoutSessionId) matches.push(eq(transactions.stripeCheckoutSessionId, keys.checkoutSessionId))
  if (keys.paymentIntentId) matches.push(eq(transactions.stripePaymentIntentId, keys.paymentIntentId))
  if (keys.invoiceId) matches.push(eq(transactions.stripeInvoiceId, keys.invoiceId))
  if (keys.chargeId) matches.push(eq(transactions.stripeChargeId, keys.chargeId))
  if (matches.length === 0) return []
  return db.select().from(transactions)
    .where(and(eq(transactions.projectId, projectId), eq(transactions.mode, mode), or(...matches)))
    .orderBy(transactions.createdAt, transactions.id)
}

export type TransactionWrite = Pick<TransactionRow,
  'endUserId' | 'kind' | 'status' | 'amount' | 'amountRefunded' | 'currency' | 'description' | 'stripeCustomerId' | 'stripeCheckoutSessionId' |
  'stripePaymentIntentId' | 'stripeInvoiceId' | 'stripeChargeId' | 'stripeSubscriptionId' | 'lastEventAt' | 'succeededAt' | 'failedAt' | 'refundedAt'>

const ts = (d: Date | null): SQL => (d ? sql`${d.toISOString()}::timestamptz` : sql`null::timestamptz`)

/** Rows folded into another one go first, in their own statement: the unique ids move to the kept row. */
export async function deleteTransactions (tx: Executor, ids: string[]): Promise<void> {
  if (ids.length === 0) return
  await tx.delete(transactions).where(inArray(transactions.id, ids))
}

/** Inserts (keepId null) or rewrites the row and applies the stats delta in the same statement. */
export async function writeTransaction (tx: Executor, scope: StatsScope, keepId: string | null, w: TransactionWrite, delta: StatsDelta): Promise<void> {
  const write = keepId === null
    ? sql`insert into transactions (developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency, description, stripe_customer_id,
        stripe_checkout_session_id, stripe_payment_intent_id, stripe_invoice_id, stripe_charge_id, stripe_subscription_id, last_event_at, succeeded_at, failed_at, refunded_at)
      values (${scope.developerId}, ${scope.projectId}::uuid, ${scope.mode}, ${w.endUserId}, ${w.kind}, ${w.status}, ${w.amount}::bigint, ${w.amountRefunded}::bigint, ${w.currency},
        ${w.description}, ${w.stripeCustomerId}, ${w.stripeCheckoutSessionId}, ${w.stripePaymentIntentId}, ${w.stripeInvoiceId}, ${w.stripeChargeId}, ${w.stripeSubscriptionId},
        ${w.lastEventAt}::bigint, ${ts(w.succeededAt)}, ${ts(w.failedAt)}, ${ts(w.refundedAt)})
      returning 1`
    : sql`update transactions set end_user_id = ${w.endUserId}, kind = ${w.kind}, status = ${w.status}, amount = ${w.amount}::bigint, amount_refunded = ${w.amountRefunded}::bigint,
        currency = ${w.currency}, description = ${w.description}, stripe_customer_id = ${w.stripeCustomerId}, stripe_checkout_session_id = ${w.stripeCheckoutSessionId},
        stripe_payment_intent_id = ${w.stripePaymentIntentId}, stripe_invoice_id = ${w.stripeInvoiceId}, stripe_charge_id = ${w.stripeChargeId},
        stripe_subscription_id = ${w.stripeSubscriptionId}, last_event_at = ${w.lastEventAt}::bigint, succeeded_at = ${ts(w.succeededAt)}, failed_at = ${ts(w.failedAt)},
        refunded_at = ${ts(w.refundedAt)}, updated_at = now()
      where id = ${keepId}::uuid
      returning 1`
  const stats = statsDeltaCtes(scope, delta, sql`exists (select 1 from w)`)
  await queryRows(tx, withCtes([['w', write], ...stats.map((s, i): [string, SQL] => [`s${i}`, s])], sql`select count(*)::int as n from w`))
}
