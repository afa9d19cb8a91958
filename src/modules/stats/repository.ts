import type { WriteKind } from '../../platform/db/effects.ts'
import { q, raw, type Fragment } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { statsDiff, type StatsDelta } from './model.ts'

/** Number of rows one project's stats are spread over; readers sum over shards. */
export const STATS_SHARDS = 8

export interface StatsScope { developerId: string, projectId: string, mode: Mode, shard: number }

/** The counters of each stats table: every write adds to them, readers and the recompute sum them. */
export const DAILY_FIELDS = ['gross', 'refunded', 'succeeded_count', 'failed_count', 'new_subscriptions', 'canceled_subscriptions'] as const
export const CURRENT_FIELDS = ['active', 'trialing', 'past_due', 'canceled', 'incomplete', 'unpaid', 'paused', 'mrr'] as const

/** A delta for one stats scope (developer, project, mode, shard). */
export interface StatsWrite { scope: StatsScope, delta: StatsDelta }

const DAILY_COLUMNS = raw(DAILY_FIELDS.join(', '))
const CURRENT_COLUMNS = raw(CURRENT_FIELDS.join(', '))
const DAILY_ADD = raw(DAILY_FIELDS.map((c) => `${c} = stats_daily.${c} + excluded.${c}`).join(', '))
const CURRENT_ADD = raw(CURRENT_FIELDS.map((c) => `${c} = stats_subscriptions.${c} + excluded.${c}`).join(', '))

/**
 * Every stats delta of a batch, added to the counters (`c = c + excluded.c`). Each stats row is
 * written once per statement (the deltas of one scope summed), and the daily rows in one order across
 * every writer (currency, month, then the month rows' other keys, then day), so two batches lock
 * stats_daily rows and the month rows its trigger updates in the same order: no deadlock.
 */
export const statsDeltas: WriteKind<StatsWrite> = {
  name: 'stats deltas',
  ctes (items, gate) {
    const groups = new Map<string, { scope: StatsScope, deltas: StatsDelta[] }>()
    for (const { scope, delta } of items) {
      const key = `${scope.developerId}|${scope.projectId}|${scope.mode}|${scope.shard}`
      const group = groups.get(key)
      if (group) group.deltas.push(delta)
      else groups.set(key, { scope, deltas: [delta] })
    }
    const summed = [...groups.values()].map(({ scope, deltas }) => ({ scope, delta: statsDiff(deltas, []) }))
    const orderKey = ({ scope, d }: { scope: StatsScope, d: StatsDelta['daily'][number] }) =>
      `${d.currency}|${d.day.slice(0, 7)}|${scope.developerId}|${scope.mode}|${scope.shard}|${scope.projectId}|${d.day}`
    const dailyRows = summed.flatMap(({ scope, delta }) => delta.daily.map((d) => ({ scope, d })))
      .map((r) => ({ ...r, key: orderKey(r) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const currentRows = summed.flatMap(({ scope, delta }) => delta.current.map((c) => ({ scope, c })))
    const ctes: Array<[string, Fragment]> = []
    if (dailyRows.length > 0) {
      ctes.push(['stats_day', q`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, ${DAILY_COLUMNS})
          select * from unnest(${dailyRows.map((r) => r.scope.developerId)}::text[], ${dailyRows.map((r) => r.scope.projectId)}::uuid[], ${dailyRows.map((r) => r.scope.mode)}::text[],
            ${dailyRows.map((r) => r.d.day)}::text[]::date[], ${dailyRows.map((r) => r.d.currency)}::text[], ${dailyRows.map((r) => r.scope.shard)}::smallint[],
            ${dailyRows.map((r) => r.d.gross)}::bigint[], ${dailyRows.map((r) => r.d.refunded)}::bigint[], ${dailyRows.map((r) => r.d.succeededCount)}::int[],
            ${dailyRows.map((r) => r.d.failedCount)}::int[], ${dailyRows.map((r) => r.d.newSubscriptions)}::int[], ${dailyRows.map((r) => r.d.canceledSubscriptions)}::int[])
          where ${gate}
          on conflict (developer_id, project_id, mode, day, currency, shard) do update set ${DAILY_ADD}`])
    }
    if (currentRows.length > 0) {
      ctes.push(['stats_now', q`insert into stats_subscriptions (developer_id, project_id, mode, currency, shard, ${CURRENT_COLUMNS})
          select * from unnest(${currentRows.map((r) => r.scope.developerId)}::text[], ${currentRows.map((r) => r.scope.projectId)}::uuid[], ${currentRows.map((r) => r.scope.mode)}::text[],
            ${currentRows.map((r) => r.c.currency)}::text[], ${currentRows.map((r) => r.scope.shard)}::smallint[], ${currentRows.map((r) => r.c.active)}::int[],
            ${currentRows.map((r) => r.c.trialing)}::int[], ${currentRows.map((r) => r.c.pastDue)}::int[], ${currentRows.map((r) => r.c.canceled)}::int[],
            ${currentRows.map((r) => r.c.incomplete)}::int[], ${currentRows.map((r) => r.c.unpaid)}::int[], ${currentRows.map((r) => r.c.paused)}::int[], ${currentRows.map((r) => r.c.mrr)}::bigint[])
          where ${gate}
          on conflict (developer_id, project_id, mode, currency, shard) do update set ${CURRENT_ADD}`])
    }
    return { ctes }
  },
}
