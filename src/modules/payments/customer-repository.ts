import { and, eq, isNull } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import type { ReadKind, WriteKind } from '../../platform/db/effects.ts'
import { q } from '../../platform/db/statement.ts'
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

/** A Stripe customer of a project and mode. */
export interface CustomerLookup { projectId: string, mode: Mode, customerId: string | null }

/** The end user our checkout linked to a Stripe customer (null: none). */
export const customerEndUser: ReadKind<CustomerLookup, string | null> = {
  name: 'end user of a Stripe customer',
  inputs: [
    { name: 'p', type: 'uuid', pick: (l) => l.projectId },
    { name: 'm', type: 'text', pick: (l) => l.mode },
    { name: 'cus', type: 'text', pick: (l) => l.customerId },
  ],
  select: (arg) => q`select c.end_user_id from customers c where c.project_id = ${arg('p')} and c.mode = ${arg('m')} and c.stripe_customer_id = ${arg('cus')}`,
  parse: (value) => (typeof value === 'string' ? value : null),
}

/** An end user and the Stripe customer a completed checkout says it has. */
export interface CustomerLink { projectId: string, mode: Mode, endUserId: string, customerId: string }

/**
 * Remembers which Stripe customer an end user has, unless either side is already linked: the end
 * user's row without a Stripe id takes it, or a new row is created (a row that has one keeps it).
 */
export const customerLinks: WriteKind<CustomerLink> = {
  name: 'customer links',
  ctes (items, gate) {
    const links = q`unnest(${items.map((l) => l.projectId)}::uuid[], ${items.map((l) => l.mode)}::text[], ${items.map((l) => l.endUserId)}::text[], ${items.map((l) => l.customerId)}::text[]) as u(p, m, eu, cus)`
    return {
      ctes: [
        ['cus_claimed', q`update customers c set stripe_customer_id = u.cus from ${links}
          where c.project_id = u.p and c.mode = u.m and c.end_user_id = u.eu and c.stripe_customer_id is null
            and not exists (select 1 from customers o where o.project_id = u.p and o.mode = u.m and o.stripe_customer_id = u.cus) and ${gate}
          returning c.project_id, c.mode, c.end_user_id`],
        ['cus_created', q`insert into customers (project_id, mode, end_user_id, stripe_customer_id)
          select u.p, u.m, u.eu, u.cus from ${links}
          where ${gate} and not exists (select 1 from cus_claimed c where c.project_id = u.p and c.mode = u.m and c.end_user_id = u.eu)
          on conflict do nothing
          returning 1`],
      ],
    }
  },
}
