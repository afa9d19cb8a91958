import { and, asc, eq, sql } from 'drizzle-orm'
import type { Executor } from '../../platform/db/client.ts'
import { projects } from '../../platform/db/schema.ts'

export type ProjectRow = typeof projects.$inferSelect

const publicColumns = {
  id: projects.id,
  developerId: projects.developerId,
  name: projects.name,
  createdAt: projects.createdAt,
  updatedAt: projects.updatedAt,
}
export type Project = Pick<ProjectRow, keyof typeof publicColumns>

export async function insertProject (db: Executor, row: { id: string, developerId: string, name: string, endUserSecret: string }): Promise<Project> {
  const [created] = await db.insert(projects).values(row).returning(publicColumns)
  if (!created) throw new Error('insert returned no row')
  return created
}

/** Another developer's project is indistinguishable from a missing one. */
export async function findOwnedProject (db: Executor, developerId: string, projectId: string): Promise<Project | undefined> {
  const [row] = await db.select(publicColumns).from(projects)
    .where(and(eq(projects.id, projectId), eq(projects.developerId, developerId)))
  return row
}

/**
 * Keyset pagination on (created_at, id). The cursor row is compared inside SQL: a timestamp taken
 * through a JS Date loses Postgres' microseconds and would repeat rows.
 */
export async function listOwnedProjects (db: Executor, developerId: string, limit: number, startingAfter?: string): Promise<Project[]> {
  const after = startingAfter
    ? sql`(${projects.createdAt}, ${projects.id}) > (select c.created_at, c.id from ${projects} c where c.id = ${startingAfter} and c.developer_id = ${developerId})`
    : undefined
  return db.select(publicColumns).from(projects)
    .where(and(eq(projects.developerId, developerId), after))
    .orderBy(asc(projects.createdAt), asc(projects.id))
    .limit(limit)
}

export async function findEndUserSecret (db: Executor, projectId: string): Promise<{ sealed: string, version: number } | undefined> {
  const [row] = await db.select({ sealed: projects.endUserSecret, version: projects.endUserSecretVersion })
    .from(projects).where(eq(projects.id, projectId))
  return row
}

export async function replaceEndUserSecret (db: Executor, developerId: string, projectId: string, sealed: string): Promise<(Project & { endUserSecretVersion: number }) | undefined> {
  const [row] = await db.update(projects)
    .set({ endUserSecret: sealed, endUserSecretVersion: sql`${projects.endUserSecretVersion} + 1`, updatedAt: new Date() })
    .where(and(eq(projects.id, projectId), eq(projects.developerId, developerId)))
    .returning({ ...publicColumns, endUserSecretVersion: projects.endUserSecretVersion })
  return row
}
