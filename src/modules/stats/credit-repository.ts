import type { Executor } from '../../platform/db/client.ts'
import { q, runRows } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'

export interface CreditDay { day: string, granted: number, consumed: number, expired: number, clawedBack: number }
export interface CreditStatsRows { days: CreditDay[], outstanding: Map<string, number> }

/**
 * The credit stats of a developer's projects (or one), from the rows the ledger engine keeps: the
 * days of the range that moved credits, summed over shards, and what each project still owes. Both
 * are read by index, so the cost follows days and projects, never ledger entries.
 */
export async function readCreditStats (db: Executor, scope: { developerId: string, mode: Mode, projectId?: string | undefined, from: string, to: string }): Promise<CreditStatsRows> {
  const project = scope.projectId ?? null
  const [days, outstanding] = await Promise.all([
    runRows<{ day: string, granted: string | number, consumed: string | number, expired: string | number, clawed_back: string | number }>(db, q`select d.day::text as day,
        sum(d.granted)::bigint as granted, sum(d.consumed)::bigint as consumed, sum(d.expired)::bigint as expired, sum(d.clawed_back)::bigint as clawed_back
      from projects p join stats_credits_daily d on d.project_id = p.id
      where p.developer_id = ${scope.developerId}::text and (${project}::uuid is null or p.id = ${project}::uuid) and d.mode = ${scope.mode}::text
        and d.day between ${scope.from}::text::date and ${scope.to}::text::date
      group by d.day order by d.day`),
    runRows<{ project_id: string, outstanding: string | number }>(db, q`select c.project_id, sum(c.outstanding)::bigint as outstanding
      from projects p join stats_credits_current c on c.project_id = p.id
      where p.developer_id = ${scope.developerId}::text and (${project}::uuid is null or p.id = ${project}::uuid) and c.mode = ${scope.mode}::text
      group by c.project_id`),
  ])
  return {
    days: days.map((d) => ({ day: d.day, granted: Number(d.granted), consumed: Number(d.consumed), expired: Number(d.expired), clawedBack: Number(d.clawed_back) })),
    outstanding: new Map(outstanding.map((o) => [o.project_id, Number(o.outstanding)])),
  }
}
