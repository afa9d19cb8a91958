import { and, eq, isNull } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { customers } from '../../platform/db/schema.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export type CustomerRow = typeof customers.$inferSelect

export async function findCustomer (db: Executor, projectId: string, mode: Mode, endUserId: string): Promise<CustomerRow | undefined> {
  const [row] = await db.select().from(customers)
    .where(and(eq(customers.projectId, projectId), eq(customers.mode, mode), eq(customers.endUserId, endUserId)))
  return row
}

/**
 * The (project, mode, end user) row, created without a Stripe id when missing. Concurrent first
 * requests all land on the one row the unique index lets through.
 */
export async function claimCustomer (db: Executor, projectId: string, mode: Mode, endUserId: string): Promise<CustomerRow> {
  await db.insert(customers).values({ projectId, mode, endUserId }).onConflictDoNothing({ target: [customers.projectId, customers.mode, customers.endUserId] })
  const row = await findCustomer(db, projectId, mode, endUserId)
  if (!row) throw new Error('claimed customer row vanished')
  return row
}

/** Stores the Stripe id on a claimed row; a row that already has one keeps it (the first writer wins). */
export async function attachStripeCustomer (db: Executor, rowId: string, stripeCustomerId: string): Promise<CustomerRow | undefined> {
  await db.update(customers).set({ stripeCustomerId })
    .where(and(eq(customers.id, rowId), isNull(customers.stripeCustomerId)))
  const [row] = await db.select().from(customers).where(eq(customers.id, rowId))
  return row
}
