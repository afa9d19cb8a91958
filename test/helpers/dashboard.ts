import { randomUUID } from 'node:crypto'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import type { Developer } from './app.ts'

let counter = 0
const uniq = () => `${Date.now().toString(36)}${(++counter).toString(36)}${Math.random().toString(36).slice(2, 6)}`

export interface TxSpec {
  developerId: string
  projectId: string
  mode?: 'test' | 'live'
  status?: string
  amount?: number
  amountRefunded?: number
  currency?: string
  endUserId?: string | null
  stripeCustomerId?: string | null
  /** Postgres timestamptz literal (microseconds kept), default now(). */
  createdAt?: string
  succeededAt?: string | null
}

/** A transaction row written directly (list tests do not need webhooks); returns its id. */
export async function insertTransaction (app: FastifyInstance, s: TxSpec): Promise<string> {
  const id = randomUUID()
  const status = s.status ?? 'succeeded'
  const u = uniq()
  await app.db.execute(sql`insert into transactions (id, developer_id, project_id, mode, end_user_id, kind, status, amount, amount_refunded, currency,
      stripe_customer_id, stripe_payment_intent_id, stripe_charge_id, created_at, succeeded_at)
    values (${id}::uuid, ${s.developerId}, ${s.projectId}::uuid, ${s.mode ?? 'test'}, ${s.endUserId ?? null}, 'one_time', ${status}, ${s.amount ?? 1000}, ${s.amountRefunded ?? 0},
      ${s.currency ?? 'usd'}, ${s.stripeCustomerId ?? null}, ${`pi_t${u}`}, ${`ch_t${u}`},
      coalesce(${s.createdAt ?? null}::timestamptz, now()), ${s.succeededAt === undefined ? (status === 'succeeded' ? new Date().toISOString() : null) : s.succeededAt}::timestamptz)`)
  return id
}

export interface SubSpec {
  developerId: string
  projectId: string
  mode?: 'test' | 'live'
  status?: string
  endUserId?: string | null
  stripeCustomerId?: string
  createdAt?: string
}

export async function insertSubscription (app: FastifyInstance, s: SubSpec): Promise<string> {
  const id = randomUUID()
  await app.db.execute(sql`insert into subscriptions (id, developer_id, project_id, mode, end_user_id, stripe_customer_id, stripe_subscription_id, status, amount, currency, interval, interval_count, created_at)
    values (${id}::uuid, ${s.developerId}, ${s.projectId}::uuid, ${s.mode ?? 'test'}, ${s.endUserId ?? null}, ${s.stripeCustomerId ?? `cus_t${uniq()}`}, ${`sub_t${uniq()}`},
      ${s.status ?? 'active'}, 2000, 'usd', 'month', 1, coalesce(${s.createdAt ?? null}::timestamptz, now()))`)
  return id
}

export interface Page<T> { data: T[], has_more: boolean, next_cursor: string | null }

export async function get (app: FastifyInstance, dev: Developer, url: string, query: Record<string, string | number | boolean | undefined> = {}): Promise<LightMyRequestResponse> {
  const q = Object.entries(query).filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
  return app.inject({ method: 'GET', url, headers: dev.headers, query: Object.fromEntries(q.map(([k, v]) => [k, String(v)])) })
}

/** Every page of a list, with an optional hook between pages (to insert rows while paginating). */
export async function allPages<T extends { id: string }> (app: FastifyInstance, dev: Developer, url: string, query: Record<string, string | number | boolean | undefined>, between?: (page: number) => Promise<void>): Promise<T[]> {
  const out: T[] = []
  let cursor: string | undefined
  for (let n = 0; n < 1000; n++) {
    const res = await get(app, dev, url, { ...query, ...(cursor ? { starting_after: cursor } : {}) })
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.body}`)
    const page = res.json<Page<T>>()
    out.push(...page.data)
    if (!page.has_more || !page.next_cursor) return out
    cursor = page.next_cursor
    if (between) await between(n)
  }
  throw new Error('too many pages')
}

/** The stats a developer should see, computed independently from the source rows (what recompute sums). */
export async function expectedTotals (app: FastifyInstance, developerId: string, mode: 'test' | 'live', from: string, to: string): Promise<Array<{ currency: string, gross: number, refunded: number, succeeded_count: number, failed_count: number }>> {
  const rows = await queryRows<{ currency: string, gross: string, refunded: string, succeeded_count: string, failed_count: string }>(app.db, sql`
    select currency, sum(gross)::bigint as gross, sum(refunded)::bigint as refunded, sum(s)::bigint as succeeded_count, sum(f)::bigint as failed_count from (
      select currency, amount as gross, 0 as refunded, 1 as s, 0 as f from transactions
        where developer_id = ${developerId} and mode = ${mode} and succeeded_at is not null and (succeeded_at at time zone 'UTC')::date between ${from}::date and ${to}::date
      union all
      select currency, 0, amount_refunded, 0, 0 from transactions
        where developer_id = ${developerId} and mode = ${mode} and amount_refunded > 0 and (coalesce(refunded_at, succeeded_at) at time zone 'UTC')::date between ${from}::date and ${to}::date
      union all
      select currency, 0, 0, 0, 1 from transactions
        where developer_id = ${developerId} and mode = ${mode} and status = 'failed' and failed_at is not null and (failed_at at time zone 'UTC')::date between ${from}::date and ${to}::date
    ) c group by currency order by currency`)
  return rows.map((r) => ({ currency: r.currency, gross: Number(r.gross), refunded: Number(r.refunded), succeeded_count: Number(r.succeeded_count), failed_count: Number(r.failed_count) }))
}

export const today = (): string => new Date().toISOString().slice(0, 10)
export const daysAgo = (n: number): string => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10)
