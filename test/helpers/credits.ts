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
