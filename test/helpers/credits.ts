import type { LightMyRequestResponse } from 'fastify'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import type { Shop } from './end-user.ts'

/** A project API key, created through the route as a developer would. */
export async function createApiKey (shop: Pick<Shop, 'app' | 'dev' | 'project'>, mode: 'test' | 'live' = 'test', projectId = shop.project.id): Promise<{ id: string, key: string }> {
  const res = await shop.app.inject({ method: 'POST', url: `/api/v1/projects/${projectId}/api-keys`, headers: shop.dev.headers, payload: { mode, name: `backend ${mode}` } })
  if (res.statusCode !== 201) throw new Error(`createApiKey: ${res.statusCode} ${res.body}`)
  return res.json<{ id: string, key: string }>()
}

let keys = 0
/** A call of the credits API with an API key (and an Idempotency-Key where the route takes one). */
export async function creditsCall (shop: Pick<Shop, 'app'>, key: string, method: 'GET' | 'POST', path: string, payload?: Record<string, unknown>, idempotencyKey: string | null = `k-${process.pid}-${++keys}`): Promise<LightMyRequestResponse> {
  return shop.app.inject({
    method, url: `/api/v1/credits${path}`,
    headers: { authorization: `Bearer ${key}`, ...(idempotencyKey !== null && method === 'POST' ? { 'idempotency-key': idempotencyKey } : {}) },
    ...(payload ? { payload } : {}),
  })
}

export interface BalanceView { monthly: number, purchased: number, bonus: number, total: number, reserved: number, available: number, debt: number, next_reset_at: string | null, expiring: Array<{ amount: number, expires_at: string }> }
export interface LedgerEntry { seq: number, kind: string, bucket: string | null, amount: number, source: string | null, description: string | null, balance_after: { monthly: number, purchased: number, bonus: number, total: number, reserved: number, debt: number } }

export async function balanceOf (shop: Pick<Shop, 'app'>, key: string, endUserId: string): Promise<BalanceView> {
  const res = await creditsCall(shop, key, 'GET', `/balances/${encodeURIComponent(endUserId)}`)
  if (res.statusCode !== 200) throw new Error(`balance: ${res.statusCode} ${res.body}`)
  return res.json<BalanceView>()
}

/** Every ledger entry of an end user, oldest first, through the paged route. */
export async function ledgerOf (shop: Pick<Shop, 'app'>, key: string, endUserId: string): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = []
  let cursor: string | null = null
  do {
    const res = await creditsCall(shop, key, 'GET', `/ledger?end_user_id=${encodeURIComponent(endUserId)}&limit=100${cursor ? `&starting_after=${cursor}` : ''}`)
    if (res.statusCode !== 200) throw new Error(`ledger: ${res.statusCode} ${res.body}`)
    const page = res.json<{ data: LedgerEntry[], next_cursor: string | null }>()
    out.push(...page.data)
    cursor = page.next_cursor
  } while (cursor)
  return out.reverse()
}

/** The wallet's cached balance equals its last ledger entry, and the lots hold what the wallet says. */
export async function walletConsistency (shop: Pick<Shop, 'app'>, projectId: string): Promise<Array<Record<string, unknown>>> {
  return queryRows(shop.app.db, sql`select w.end_user_id, w.monthly, w.purchased, w.bonus, w.seq, l.seq as last_seq, l.monthly_after, l.purchased_after, l.bonus_after,
      (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'monthly') as lots_monthly,
      (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'purchased') as lots_purchased,
      (select count(*) from credit_ledger where wallet_id = w.id) as entries
    from credit_wallets w left join credit_ledger l on l.wallet_id = w.id and l.seq = w.seq
    where w.project_id = ${projectId}
      and not (w.monthly = l.monthly_after and w.purchased = l.purchased_after and w.bonus = l.bonus_after and w.seq = (select count(*) from credit_ledger where wallet_id = w.id)
        and w.monthly = (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'monthly')
        and w.purchased = (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'purchased')
        and w.bonus = (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'bonus'))`)
}

export interface CreditSnapshot {
  wallets: Array<{ mode: string, end_user_id: string, monthly: number, purchased: number, bonus: number, reserved: number, debt: number, next_reset_at: string | null }>
  lots: Array<{ end_user_id: string, source: string, bucket: string, granted: number, remaining: number, taken_back: number, paid_amount: number | null,
    payment_intent: string | null, period_start: string | null, expires_at: string | null, grants: number }>
  /** What the ledger adds up to per wallet, kind and bucket (sums: how many entries a take-back took depends on the order). */
  ledger: Array<{ end_user_id: string, kind: string, bucket: string | null, amount: number }>
  /** Refunds still waiting for a purchase to be granted (those of payments that bought no credits). */
  pending: Array<{ source: string, refunded: number, paid: number }>
}

const numberOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v))
const byText = <T>(key: (row: T) => string) => (a: T, b: T) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)

/**
 * A project's credits as far as they do not depend on the order its events arrived in: wallets, lots
 * (with the grant entries each has), the ledger's sums and the pending refunds, without ids and times of writing.
 */
export async function creditSnapshot (shop: Pick<Shop, 'app'>, projectId: string): Promise<CreditSnapshot> {
  const wallets = await queryRows<Record<string, unknown>>(shop.app.db, sql`select mode, end_user_id, monthly, purchased, bonus, reserved, debt,
      (next_reset_at at time zone 'UTC')::text as next_reset_at
    from credit_wallets where project_id = ${projectId}`)
  const lots = await queryRows<Record<string, unknown>>(shop.app.db, sql`select w.end_user_id, l.source, l.bucket, l.granted, l.remaining, l.taken_back, l.paid_amount,
      l.stripe_payment_intent_id as payment_intent, (l.period_start at time zone 'UTC')::text as period_start, (l.expires_at at time zone 'UTC')::text as expires_at,
      (select count(*) from credit_ledger e where e.lot_id = l.id and e.kind = 'grant') as grants
    from credit_lots l join credit_wallets w on w.id = l.wallet_id where l.project_id = ${projectId}`)
  const ledger = await queryRows<Record<string, unknown>>(shop.app.db, sql`select w.end_user_id, e.kind, e.bucket, sum(e.amount) as amount
    from credit_ledger e join credit_wallets w on w.id = e.wallet_id where w.project_id = ${projectId} group by 1, 2, 3`)
  const pending = await queryRows<Record<string, unknown>>(shop.app.db, sql`select source, refunded, paid from credit_pending_refunds where project_id = ${projectId}`)
  return {
    wallets: wallets.map((w) => ({
      mode: String(w.mode), end_user_id: String(w.end_user_id), monthly: Number(w.monthly), purchased: Number(w.purchased), bonus: Number(w.bonus),
      reserved: Number(w.reserved), debt: Number(w.debt), next_reset_at: w.next_reset_at === null ? null : String(w.next_reset_at),
    })).sort(byText((w) => `${w.mode}|${w.end_user_id}`)),
    lots: lots.map((l) => ({
      end_user_id: String(l.end_user_id), source: String(l.source), bucket: String(l.bucket), granted: Number(l.granted), remaining: Number(l.remaining),
      taken_back: Number(l.taken_back), paid_amount: numberOrNull(l.paid_amount), payment_intent: l.payment_intent === null ? null : String(l.payment_intent),
      period_start: l.period_start === null ? null : String(l.period_start), expires_at: l.expires_at === null ? null : String(l.expires_at), grants: Number(l.grants),
    })).sort(byText((l) => l.source)),
    ledger: ledger.map((e) => ({ end_user_id: String(e.end_user_id), kind: String(e.kind), bucket: e.bucket === null ? null : String(e.bucket), amount: Number(e.amount) }))
      .sort(byText((e) => `${e.end_user_id}|${e.kind}|${e.bucket ?? ''}`)),
    pending: pending.map((p) => ({ source: String(p.source), refunded: Number(p.refunded), paid: Number(p.paid) })).sort(byText((p) => p.source)),
  }
}
