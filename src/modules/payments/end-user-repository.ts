import { and, desc, eq, inArray, or, sql } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { subscriptions, transactions } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type SubscriptionRow = typeof subscriptions.$inferSelect
export type TransactionRow = typeof transactions.$inferSelect

/** Statuses in which Stripe still bills (or may bill) the subscription: a second one is refused. */
export const BLOCKING_STATUSES = ['active', 'trialing', 'past_due'] as const
/** Statuses a subscription can still be canceled or changed in. */
export const LIVE_STATUSES = ['active', 'trialing', 'past_due', 'unpaid', 'paused', 'incomplete'] as const

const ownedBy = (projectId: string, mode: Mode, endUserId: string, stripeCustomerId?: string | null) => and(
  eq(subscriptions.projectId, projectId),
  eq(subscriptions.mode, mode),
  // A subscription Stripe created without our metadata still belongs to the user through the customer.
  stripeCustomerId ? or(eq(subscriptions.endUserId, endUserId), eq(subscriptions.stripeCustomerId, stripeCustomerId)) : eq(subscriptions.endUserId, endUserId),
)

/** The subscription in one of `statuses`, most recently changed first. */
export async function findSubscriptionIn (db: Executor, projectId: string, mode: Mode, endUserId: string, statuses: readonly string[], stripeCustomerId?: string | null): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions)
    .where(and(ownedBy(projectId, mode, endUserId, stripeCustomerId), inArray(subscriptions.status, [...statuses])))
    .orderBy(desc(subscriptions.createdAt), desc(subscriptions.id))
    .limit(1)
  return row
}

/** Every subscription in one of `statuses`, newest first (more than one billing subscription is a duplicate to flag). */
export async function listSubscriptionsIn (db: Executor, projectId: string, mode: Mode, endUserId: string, statuses: readonly string[], stripeCustomerId?: string | null): Promise<SubscriptionRow[]> {
  return db.select().from(subscriptions)
    .where(and(ownedBy(projectId, mode, endUserId, stripeCustomerId), inArray(subscriptions.status, [...statuses])))
    .orderBy(desc(subscriptions.createdAt), desc(subscriptions.id))
    .limit(20)
}

/** The live subscription, else the most recent ended one. */
export async function findCurrentSubscription (db: Executor, projectId: string, mode: Mode, endUserId: string, stripeCustomerId?: string | null): Promise<SubscriptionRow | undefined> {
  const live = await findSubscriptionIn(db, projectId, mode, endUserId, LIVE_STATUSES, stripeCustomerId)
  if (live) return live
  const [latest] = await db.select().from(subscriptions)
    .where(ownedBy(projectId, mode, endUserId, stripeCustomerId))
    .orderBy(desc(subscriptions.updatedAt), desc(subscriptions.id))
    .limit(1)
  return latest
}

/** Newest first, keyset on (created_at, id); the cursor row is read inside SQL (microseconds) and must be the caller's. */
export async function listEndUserTransactions (db: Executor, projectId: string, mode: Mode, endUserId: string, limit: number, startingAfter?: string): Promise<TransactionRow[]> {
  const after = startingAfter
    ? sql`(${transactions.createdAt}, ${transactions.id}) < (select c.created_at, c.id from ${transactions} c where c.id = ${startingAfter} and c.project_id = ${projectId} and c.mode = ${mode} and c.end_user_id = ${endUserId})`
    : undefined
  return db.select().from(transactions)
    .where(and(eq(transactions.projectId, projectId), eq(transactions.mode, mode), eq(transactions.endUserId, endUserId), after))
    .orderBy(desc(transactions.createdAt), desc(transactions.id))
    .limit(limit)
}

export interface PendingTransaction {
  /** Chosen before the Stripe call, so the payment's metadata can name it. */
  id: string
  developerId: string
  projectId: string
  mode: Mode
  endUserId: string
  amount: number
  currency: string
  description: string | null
  stripeCustomerId: string
  stripeCheckoutSessionId: string
}

/** A one-time checkout awaiting payment; checkout.session.completed or .expired (webhooks/events/) completes or expires it. A replayed session inserts nothing. */
export async function insertPendingTransaction (db: Executor, t: PendingTransaction): Promise<void> {
  await db.insert(transactions).values({ ...t, kind: 'one_time', status: 'pending' }).onConflictDoNothing()
}

export async function findSubscriptionById (db: Executor, id: string): Promise<SubscriptionRow | undefined> {
  const [row] = await db.select().from(subscriptions).where(eq(subscriptions.id, id))
  return row
}
