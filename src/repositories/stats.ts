import { empty, join, q, type Fragment } from '../db/statement.ts'
import type { Mode } from '../lib/stripe.ts'
import type { StatsDelta } from '../services/stats-contributions.ts'

/** Number of rows one project's stats are spread over; readers sum over shards. */
export const STATS_SHARDS = 8

export interface StatsScope { developerId: string, projectId: string, mode: Mode, shard: number }

/**
 * The stats upserts for a delta, as CTE bodies to run in the same statement as the row write they
 * follow from. `onlyIf` (e.g. `exists (select 1 from up)`) skips them when that write did nothing.
 */
export function statsDeltaCtes (scope: StatsScope, delta: StatsDelta, onlyIf?: Fragment): Fragment[] {
  const parts: Fragment[] = []
  const where = onlyIf ? q` where ${onlyIf}` : empty
  if (delta.daily.length > 0) {
    const rows = delta.daily.map((d) => q`(${scope.developerId}::varchar, ${scope.projectId}::uuid, ${scope.mode}::varchar, ${d.day}::date, ${d.currency}::varchar, ${scope.shard}::smallint, ${d.gross}::bigint, ${d.refunded}::bigint, ${d.succeededCount}::int, ${d.failedCount}::int, ${d.newSubscriptions}::int, ${d.canceledSubscriptions}::int)`)
    parts.push(q`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions)
      select * from (values ${join(rows, ', ')}) as v(developer_id, project_id, mode, day, currency, shard, gross, refunded, succeeded_count, failed_count, new_subscriptions, canceled_subscriptions)${where}
      on conflict (developer_id, project_id, mode, day, currency, shard) do update set
        gross = stats_daily.gross + excluded.gross,
        refunded = stats_daily.refunded + excluded.refunded,
        succeeded_count = stats_daily.succeeded_count + excluded.succeeded_count,
        failed_count = stats_daily.failed_count + excluded.failed_count,
        new_subscriptions = stats_daily.new_subscriptions + excluded.new_subscriptions,
        canceled_subscriptions = stats_daily.canceled_subscriptions + excluded.canceled_subscriptions`)
  }
  if (delta.current.length > 0) {
    const rows = delta.current.map((c) => q`(${scope.developerId}::varchar, ${scope.projectId}::uuid, ${scope.mode}::varchar, ${c.currency}::varchar, ${scope.shard}::smallint, ${c.active}::int, ${c.trialing}::int, ${c.pastDue}::int, ${c.canceled}::int, ${c.incomplete}::int, ${c.unpaid}::int, ${c.paused}::int, ${c.mrr}::bigint)`)
    parts.push(q`insert into stats_subscriptions (developer_id, project_id, mode, currency, shard, active, trialing, past_due, canceled, incomplete, unpaid, paused, mrr)
      select * from (values ${join(rows, ', ')}) as v(developer_id, project_id, mode, currency, shard, active, trialing, past_due, canceled, incomplete, unpaid, paused, mrr)${where}
      on conflict (developer_id, project_id, mode, currency, shard) do update set
        active = stats_subscriptions.active + excluded.active,
        trialing = stats_subscriptions.trialing + excluded.trialing,
        past_due = stats_subscriptions.past_due + excluded.past_due,
        canceled = stats_subscriptions.canceled + excluded.canceled,
        incomplete = stats_subscriptions.incomplete + excluded.incomplete,
        unpaid = stats_subscriptions.unpaid + excluded.unpaid,
        paused = stats_subscriptions.paused + excluded.paused,
        mrr = stats_subscriptions.mrr + excluded.mrr`)
  }
  return parts
}

export interface StatsDailyRow {
  day: string
  currency: string
  gross: number
  refunded: number
  succeeded_count: number
  failed_count: number
  new_subscriptions: number
  canceled_subscriptions: number
}
export interface StatsCurrentRow {
  currency: string
  active: number
  trialing: number
  past_due: number
  canceled: number
  incomplete: number
  unpaid: number
  paused: number
  mrr: number
}
