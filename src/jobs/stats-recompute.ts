import { sql, type SQL } from 'drizzle-orm'
import type { Db } from '../platform/db/client.ts'
import { queryRows } from '../platform/db/client.ts'
import { CURRENT_FIELDS, DAILY_FIELDS } from '../modules/stats/repository.ts'
import { utcDay } from '../platform/time.ts'

/**
 * Recomputes every stats row from the subscriptions and transactions (the same contributions as
 * modules/stats/model.ts, as SQL), compares with the stored rows summed over shards, and
 * unless `check`, rewrites the stored rows (shard 0) so they equal the recomputed ones. The month
 * rollups (stats_monthly, stats_developer_monthly) are compared with stats_daily, which they are
 * maintained from, day by day; a rewrite rebuilds them from the rewritten rows.
 */

export interface DriftRow {
  table: 'stats_daily' | 'stats_subscriptions' | 'stats_monthly' | 'stats_developer_monthly'
  /** '' for stats_developer_monthly (summed over the developer's projects). */
  developer_id: string
  project_id: string
  mode: string
  day: string | null
  currency: string
  field: string
  stored: number
  expected: number
}

export interface RecomputeResult { drift: DriftRow[], rewritten: boolean, dailyRows: number, currentRows: number }

const day = (column: string) => sql.raw(`((${column}) at time zone 'UTC')::date`)

function expectedDaily (scope: SQL): SQL {
  return sql`select developer_id, project_id, mode, day, currency,
      sum(gross)::bigint as gross, sum(refunded)::bigint as refunded, sum(succeeded_count)::int as succeeded_count, sum(failed_count)::int as failed_count,
      sum(new_subscriptions)::int as new_subscriptions, sum(canceled_subscriptions)::int as canceled_subscriptions
    from (
      select developer_id, project_id, mode, ${day('succeeded_at')} as day, currency, amount as gross, 0::bigint as refunded, 1 as succeeded_count, 0 as failed_count, 0 as new_subscriptions, 0 as canceled_subscriptions
        from transactions where succeeded_at is not null and ${scope}
      union all
      select developer_id, project_id, mode, ${day('coalesce(refunded_at, succeeded_at)')}, currency, 0, amount_refunded, 0, 0, 0, 0
        from transactions where amount_refunded > 0 and coalesce(refunded_at, succeeded_at) is not null and ${scope}
      union all
      select developer_id, project_id, mode, ${day('failed_at')}, currency, 0, 0, 0, 1, 0, 0
        from transactions where status = 'failed' and failed_at is not null and ${scope}
      union all
      select developer_id, project_id, mode, ${day('coalesce(stripe_created_at, created_at)')}, currency, 0, 0, 0, 0, 1, 0
        from subscriptions where currency is not null and ${scope}
      union all
      select developer_id, project_id, mode, ${day('coalesce(ended_at, canceled_at, stripe_created_at, created_at)')}, currency, 0, 0, 0, 0, 0, 1
        from subscriptions where currency is not null and status = 'canceled' and ${scope}
    ) c
    group by developer_id, project_id, mode, day, currency`
}

/** MRR per subscription, half up in integers: (2·amount·quantity·num + den) / (2·den), as mrrOf() does. */
const MRR = sql.raw(`case when status in ('active', 'past_due') and amount is not null and interval in ('month', 'year', 'week', 'day') then
    (2 * amount * quantity * (case interval when 'week' then 52 when 'day' then 365 else 1 end)
      + (case interval when 'month' then 1 else 12 end) * greatest(coalesce(interval_count, 1), 1))
    / (2 * (case interval when 'month' then 1 else 12 end) * greatest(coalesce(interval_count, 1), 1))
  else 0 end`)

function expectedCurrent (scope: SQL): SQL {
  return sql`select developer_id, project_id, mode, currency,
      count(*) filter (where status = 'active')::int as active, count(*) filter (where status = 'trialing')::int as trialing,
      count(*) filter (where status = 'past_due')::int as past_due, count(*) filter (where status = 'canceled')::int as canceled,
      count(*) filter (where status = 'incomplete')::int as incomplete, count(*) filter (where status = 'unpaid')::int as unpaid,
      count(*) filter (where status = 'paused')::int as paused, coalesce(sum(${MRR}), 0)::bigint as mrr
    from subscriptions where currency is not null and ${scope}
    group by developer_id, project_id, mode, currency`
}

/** stats_daily summed over shards, per project; or over projects too (`''`), as stats_developer_monthly holds it. */
function storedDaily (scope: SQL, perProject = true): SQL {
  const project = sql.raw(perProject ? 'project_id' : `''`)
  return sql`select developer_id, ${project} as project_id, mode, day, currency, ${sql.raw(DAILY_FIELDS.map((f) => `sum(${f})::bigint as ${f}`).join(', '))}
    from stats_daily where ${scope} group by 1, 2, 3, 4, 5`
}

function storedCurrent (scope: SQL): SQL {
  return sql`select developer_id, project_id, mode, currency, ${sql.raw(CURRENT_FIELDS.map((f) => `sum(${f})::bigint as ${f}`).join(', '))}
    from stats_subscriptions where ${scope} group by developer_id, project_id, mode, currency`
}

/** A month rollup's day arrays as day rows summed over shards (slots past a month's end hold 0 and drop out). */
function storedRollup (table: 'stats_monthly' | 'stats_developer_monthly', scope: SQL): SQL {
  const project = table === 'stats_monthly' ? sql.raw('project_id') : sql.raw(`''`)
  return sql`select developer_id, ${project} as project_id, mode, (month + (i - 1))::date as day, currency,
      ${sql.raw(DAILY_FIELDS.map((f) => `sum(${f}[i])::bigint as ${f}`).join(', '))}
    from ${sql.raw(table)}, generate_series(1, 31) i where ${scope}
    group by 1, 2, 3, 4, 5
    having ${sql.raw(DAILY_FIELDS.map((f) => `sum(${f}[i]) <> 0`).join(' or '))}`
}

type Row = Record<string, unknown>

function compare (table: DriftRow['table'], fields: readonly string[], keyOf: (r: Row) => string, stored: Row[], expected: Row[]): DriftRow[] {
  const drift: DriftRow[] = []
  const s = new Map(stored.map((r) => [keyOf(r), r]))
  const e = new Map(expected.map((r) => [keyOf(r), r]))
  for (const key of new Set([...s.keys(), ...e.keys()])) {
    const a = s.get(key)
    const b = e.get(key)
    const any = a ?? b
    if (!any) continue
    for (const f of fields) {
      const storedValue = Number(a?.[f] ?? 0)
      const expectedValue = Number(b?.[f] ?? 0)
      if (storedValue !== expectedValue) {
        drift.push({
          table, developer_id: String(any.developer_id), project_id: String(any.project_id), mode: String(any.mode),
          day: any.day === undefined ? null : String(any.day), currency: String(any.currency), field: f, stored: storedValue, expected: expectedValue,
        })
      }
    }
  }
  return drift
}

export async function recomputeStats (db: Db, options: { check?: boolean, projectId?: string } = {}): Promise<RecomputeResult> {
  const scope = options.projectId ? sql`project_id = ${options.projectId}::uuid` : sql`true`
  // The developer-wide rollup mixes a developer's projects: checked for the whole developer.
  const developerScope = options.projectId ? sql`developer_id in (select developer_id from projects where id = ${options.projectId}::uuid)` : sql`true`
  const dailyKey = (r: Row) => `${String(r.developer_id)}|${String(r.project_id)}|${String(r.mode)}|${String(r.day)}|${String(r.currency)}`
  const currentKey = (r: Row) => `${String(r.developer_id)}|${String(r.project_id)}|${String(r.mode)}|${String(r.currency)}`
  const read = async (q: SQL) => (await queryRows<Row>(db, q)).map((r) => ({ ...r, day: r.day instanceof Date ? utcDay(r.day) : r.day }))

  const [sDaily, eDaily, sCurrent, eCurrent] = [await read(storedDaily(scope)), await read(expectedDaily(scope)), await read(storedCurrent(scope)), await read(expectedCurrent(scope))]
  const rollupDrift = [
    ...compare('stats_monthly', DAILY_FIELDS, dailyKey, await read(storedRollup('stats_monthly', scope)), sDaily),
    ...compare('stats_developer_monthly', DAILY_FIELDS, dailyKey, await read(storedRollup('stats_developer_monthly', developerScope)), await read(storedDaily(developerScope, false))),
  ]
  const drift = [
    ...compare('stats_daily', DAILY_FIELDS, dailyKey, sDaily, eDaily),
    ...compare('stats_subscriptions', CURRENT_FIELDS, currentKey, sCurrent, eCurrent),
    ...rollupDrift,
  ]
  if (options.check || drift.length === 0) return { drift, rewritten: false, dailyRows: eDaily.length, currentRows: eCurrent.length }

  // Replace in one transaction; rows lock in the same order as the pipeline's stats writes (statsDeltas
  // in modules/stats/repository.ts). The lock keeps every writer out, so the rollup trigger can rest
  // while stats_daily is rewritten, and the month rows are then rebuilt from it in one pass (rather
  // than subtracted and added row by row).
  const developers = options.projectId
    ? (await queryRows<{ developer_id: string }>(db, sql`select developer_id from projects where id = ${options.projectId}::uuid`)).map((r) => r.developer_id)
    : [null]
  await db.transaction(async (tx) => {
    await tx.execute(sql`lock table stats_daily, stats_subscriptions in share row exclusive mode`)
    await tx.execute(sql`alter table stats_daily disable trigger stats_daily_rollup`)
    await tx.execute(sql`delete from stats_daily where ${scope}`)
    await tx.execute(sql`delete from stats_subscriptions where ${scope}`)
    await tx.execute(sql`insert into stats_daily (developer_id, project_id, mode, day, currency, shard, ${sql.raw(DAILY_FIELDS.join(', '))})
      select developer_id, project_id, mode, day, currency, 0, ${sql.raw(DAILY_FIELDS.join(', '))} from (${expectedDaily(scope)}) e`)
    await tx.execute(sql`insert into stats_subscriptions (developer_id, project_id, mode, currency, shard, ${sql.raw(CURRENT_FIELDS.join(', '))})
      select developer_id, project_id, mode, currency, 0, ${sql.raw(CURRENT_FIELDS.join(', '))} from (${expectedCurrent(scope)}) e`)
    await tx.execute(sql`alter table stats_daily enable trigger stats_daily_rollup`)
    for (const developer of developers) await tx.execute(sql`select stats_rollup_rebuild(${developer}::varchar)`)
  })
  return { drift, rewritten: true, dailyRows: eDaily.length, currentRows: eCurrent.length }
}
