import { empty, join, q, raw, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import type { StatsDelta } from './model.ts'

/** Number of rows one project's stats are spread over; readers sum over shards. */
export const STATS_SHARDS = 8

export interface StatsScope { developerId: string, projectId: string, mode: Mode, shard: number }

/** The counters of each stats table: every write adds to them, readers and the recompute sum them. */
export const DAILY_FIELDS = ['gross', 'refunded', 'succeeded_count', 'failed_count', 'new_subscriptions', 'canceled_subscriptions'] as const
export const CURRENT_FIELDS = ['active', 'trialing', 'past_due', 'canceled', 'incomplete', 'unpaid', 'paused', 'mrr'] as const

/** `insert … on conflict (keys) do update set c = table.c + excluded.c` for every counter: a delta adds up. */
function addingUpsert (table: string, keys: readonly string[], counters: readonly string[], rows: Fragment[], where: Fragment): Fragment {
  const columns = [...keys, ...counters].join(', ')
  return q`insert into ${raw(table)} (${raw(columns)})
      select * from (values ${join(rows, ', ')}) as v(${raw(columns)})${where}
      on conflict (${raw(keys.join(', '))}) do update set
        ${raw(counters.map((c) => `${c} = ${table}.${c} + excluded.${c}`).join(', '))}`
}

/**
 * The stats upserts for a delta, as CTE bodies to run in the same statement as the row write they
 * follow from. `onlyIf` (e.g. `exists (select 1 from up)`) skips them when that write did nothing.
 */
export function statsDeltaCtes (scope: StatsScope, delta: StatsDelta, onlyIf?: Fragment): Fragment[] {
  const parts: Fragment[] = []
  const where = onlyIf ? q` where ${onlyIf}` : empty
  if (delta.daily.length > 0) {
    const rows = delta.daily.map((d) => q`(${scope.developerId}::varchar, ${scope.projectId}::uuid, ${scope.mode}::varchar, ${d.day}::date, ${d.currency}::varchar, ${scope.shard}::smallint, ${d.gross}::bigint, ${d.refunded}::bigint, ${d.succeededCount}::int, ${d.failedCount}::int, ${d.newSubscriptions}::int, ${d.canceledSubscriptions}::int)`)
    parts.push(addingUpsert('stats_daily', ['developer_id', 'project_id', 'mode', 'day', 'currency', 'shard'], DAILY_FIELDS, rows, where))
  }
  if (delta.current.length > 0) {
    const rows = delta.current.map((c) => q`(${scope.developerId}::varchar, ${scope.projectId}::uuid, ${scope.mode}::varchar, ${c.currency}::varchar, ${scope.shard}::smallint, ${c.active}::int, ${c.trialing}::int, ${c.pastDue}::int, ${c.canceled}::int, ${c.incomplete}::int, ${c.unpaid}::int, ${c.paused}::int, ${c.mrr}::bigint)`)
    parts.push(addingUpsert('stats_subscriptions', ['developer_id', 'project_id', 'mode', 'currency', 'shard'], CURRENT_FIELDS, rows, where))
  }
  return parts
}
