import { and, desc, eq, inArray, or, sql, type SQL } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { projects, subscriptions, transactions } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type SubscriptionRow = typeof subscriptions.$inferSelect
export type TransactionRow = typeof transactions.$inferSelect

/**
 * The developer dashboard's lists across projects. Every filter combination is an index range scan
 * read in (created_at desc, id desc) order (see the indexes in db/schema.ts and
 * test/dashboard/explain.test.ts), so a page costs the same at ten rows or ten million:
 * - no project: (developer_id, mode, created_at, id), or with `status` (developer_id, mode, status, …),
 *   with `customer` the customer and end-user indexes (a BitmapOr, then a small sort);
 * - with a project: the same on (project_id, mode, …); developer_id stays in the WHERE as a second fence.
 */
export interface ListFilters {
  developerId: string
  mode: Mode
  projectId?: string | undefined
  status?: string | undefined
  /** A Stripe customer id or the developer's end-user id. */
  customer?: string | undefined
  /** ISO date-times, passed to Postgres as text so nothing is rounded. */
  createdGte?: string | undefined
  createdLte?: string | undefined
}

type ListTable = typeof transactions | typeof subscriptions

function listConditions (table: ListTable, tableName: 'transactions' | 'subscriptions', f: ListFilters, startingAfter: string | undefined): SQL | undefined {
  const conds: Array<SQL | undefined> = [eq(table.developerId, f.developerId), eq(table.mode, f.mode)]
  if (f.projectId) conds.push(eq(table.projectId, f.projectId))
  if (f.status) conds.push(eq(table.status, f.status))
  if (f.customer) conds.push(or(eq(table.stripeCustomerId, f.customer), eq(table.endUserId, f.customer)))
  if (f.createdGte) conds.push(sql`${table.createdAt} >= ${f.createdGte}::timestamptz`)
  if (f.createdLte) conds.push(sql`${table.createdAt} <= ${f.createdLte}::timestamptz`)
  if (startingAfter) {
    // The cursor row is read inside SQL: a JS Date drops Postgres' microseconds and would repeat rows.
    // A cursor that is not this developer's (or this mode's) row matches nothing.
    conds.push(sql`(${table.createdAt}, ${table.id}) < (select c.created_at, c.id from ${sql.identifier(tableName)} c
      where c.id = ${startingAfter}::uuid and c.developer_id = ${f.developerId} and c.mode = ${f.mode})`)
  }
  return and(...conds)
}

/** The query a transactions page runs (exposed so the EXPLAIN test checks exactly this SQL). */
export function transactionListQuery (db: Executor, f: ListFilters, limit: number, startingAfter?: string) {
  return db.select().from(transactions)
    .where(listConditions(transactions, 'transactions', f, startingAfter))
    .orderBy(desc(transactions.createdAt), desc(transactions.id))
    .limit(limit)
}

export function subscriptionListQuery (db: Executor, f: ListFilters, limit: number, startingAfter?: string) {
  return db.select().from(subscriptions)
    .where(listConditions(subscriptions, 'subscriptions', f, startingAfter))
    .orderBy(desc(subscriptions.createdAt), desc(subscriptions.id))
    .limit(limit)
}

export async function listDeveloperTransactions (db: Executor, f: ListFilters, limit: number, startingAfter?: string): Promise<TransactionRow[]> {
  return transactionListQuery(db, f, limit, startingAfter)
}

export async function listDeveloperSubscriptions (db: Executor, f: ListFilters, limit: number, startingAfter?: string): Promise<SubscriptionRow[]> {
  return subscriptionListQuery(db, f, limit, startingAfter)
}

const BILLING = ['active', 'trialing', 'past_due']

/**
 * Of `ids` (a page's rows), those that bill while another subscription of the same end user (or
 * Stripe customer) in that project and mode bills too: a duplicate the developer must see.
 */
export async function duplicateBillingSubscriptions (db: Executor, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const s = subscriptions
  const rows = await db.select({ id: s.id }).from(s)
    .where(and(inArray(s.id, ids), inArray(s.status, BILLING), sql`exists (select 1 from ${subscriptions} o
      where o.project_id = ${s.projectId} and o.mode = ${s.mode} and o.id <> ${s.id} and o.status in ('active', 'trialing', 'past_due')
        and (o.end_user_id = ${s.endUserId} or o.stripe_customer_id = ${s.stripeCustomerId}))`))
  return new Set(rows.map((r) => r.id))
}

/** Names of the caller's projects among `ids` (one primary-key probe each). */
export async function projectNames (db: Executor, developerId: string, ids: string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)]
  if (unique.length === 0) return new Map()
  const rows = await db.select({ id: projects.id, name: projects.name }).from(projects)
    .where(and(inArray(projects.id, unique), eq(projects.developerId, developerId)))
  return new Map(rows.map((r) => [r.id, r.name]))
}

/** One transaction of a project, whatever its mode (a refund takes the mode from the payment itself). */
export async function findProjectTransaction (db: Executor, developerId: string, projectId: string, transactionId: string): Promise<TransactionRow | undefined> {
  const [row] = await db.select().from(transactions)
    .where(and(eq(transactions.id, transactionId), eq(transactions.projectId, projectId), eq(transactions.developerId, developerId)))
  return row
}
