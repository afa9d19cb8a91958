import type { Executor } from '../../platform/db/client.ts'
import type { WriteKind } from '../../platform/db/effects.ts'
import { q, runRows } from '../../platform/db/statement.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { walletKeyOf, type CreditOp, type LedgerRow } from './model.ts'

/**
 * Every credits change of a webhook batch: each operation is one call of credits_apply (migrations/0010),
 * in one order of wallets across every writer (then in event order), so two batches never wait on each
 * other's wallets in opposite orders. The kinds after this one run only once every call has.
 */
export const creditOps: WriteKind<CreditOp> = {
  name: 'credit operations',
  ctes (items, gate) {
    const ordered = items.map((op, i) => ({ op, i, key: walletKeyOf(op) }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.i - b.i))
    return {
      ctes: [['credit_ops', q`select credits_apply(o.op) as ok from unnest(${ordered.map((o) => JSON.stringify(o.op))}::text[]::jsonb[]) with ordinality as o(op, n)
          where ${gate} order by o.n`]],
      gate: q`(${gate} and (select count(*) from credit_ops) = ${ordered.length}::int)`,
    }
  },
}

/** What a credits function answers: an HTTP status, and a body or a problem code. */
export interface CreditAnswer {
  status: number
  body?: Record<string, unknown>
  code?: string
  balance?: Record<string, unknown>
  replayed?: boolean
  [key: string]: unknown
}

export interface Wallet { projectId: string, mode: Mode }

const one = async (db: Executor, fragment: ReturnType<typeof q>): Promise<CreditAnswer> => {
  const [row] = await runRows<{ r: CreditAnswer }>(db, fragment)
  if (!row) throw new Error('a credits function answered nothing')
  return row.r
}

/** One consume of a batch: whose wallet, how much, and its Idempotency-Key with the request's fingerprint. */
export interface ConsumeCall {
  projectId: string
  mode: Mode
  endUserId: string
  amount: number
  key: string
  fingerprint: string
  description: string | null
  metadata: Record<string, string> | null
}

/** Consumes in one statement and one transaction (credits_consume_batch, migration 0019); the answers in the calls' order. */
export async function consumeBatch (db: Executor, calls: readonly ConsumeCall[]): Promise<CreditAnswer[]> {
  const items = calls.map((c) => ({
    project_id: c.projectId, mode: c.mode, end_user_id: c.endUserId, amount: c.amount, key: c.key, fingerprint: c.fingerprint, description: c.description, metadata: c.metadata,
  }))
  const [row] = await runRows<{ r: unknown }>(db, q`select credits_consume_batch(${JSON.stringify(items)}::jsonb) as r`)
  const answers: unknown = typeof row?.r === 'string' ? JSON.parse(row.r) : row?.r
  if (!Array.isArray(answers)) throw new Error('credits_consume_batch answered no array')
  return answers as CreditAnswer[]
}

export const reserve = (db: Executor, w: Wallet, endUserId: string, amount: number, ttlSeconds: number, key: string, fingerprint: string) =>
  one(db, q`select credits_reserve(${w.projectId}::uuid, ${w.mode}::text, ${endUserId}::text, ${amount}::bigint, ${ttlSeconds}::int, ${key}::text, ${fingerprint}::text) as r`)

export const settle = (db: Executor, w: Wallet, reservationId: string, commit: boolean, amount: number | null) =>
  one(db, q`select credits_settle(${w.projectId}::uuid, ${w.mode}::text, ${reservationId}::uuid, ${commit}::boolean, ${amount}::bigint) as r`)

export const adjust = (db: Executor, w: Wallet, endUserId: string, amount: number, bucket: string, reason: string, key: string, fingerprint: string) =>
  one(db, q`select credits_adjust(${w.projectId}::uuid, ${w.mode}::text, ${endUserId}::text, ${amount}::bigint, ${bucket}::text, ${reason}::text, ${key}::text, ${fingerprint}::text) as r`)

/**
 * The balance view, read (never summed from the ledger): the wallet row and its soonest expiring lots.
 * Lots past their expiry that no change has closed yet are left out, as the next change will close them.
 */
export async function balance (db: Executor, w: Wallet, endUserId: string): Promise<Record<string, unknown>> {
  const [row] = await runRows<{ r: Record<string, unknown> }>(db, q`select credits_balance_of(${w.projectId}::uuid, ${w.mode}::text, ${endUserId}::text) as r`)
  return row?.r ?? {}
}

/** One page of a wallet's ledger, newest first (`before`: entries with a smaller seq), an index range however long the ledger (migration 0017). */
export const ledgerPage = (db: Executor, w: Wallet, endUserId: string, limit: number, before: number | null, kind: string | null): Promise<LedgerRow[]> =>
  runRows<LedgerRow>(db, q`select id, seq, kind, bucket, amount, monthly_after, purchased_after, bonus_after, reserved_after, debt_after, lot_id, source, description, created_at
    from credits_ledger_page(${w.projectId}::uuid, ${w.mode}::text, ${endUserId}::text, ${limit}::int, ${before}::bigint, ${kind}::text)`)

/** Closes what is due (expired lots, reservations past their TTL) in up to `limit` wallets; how many it settled. */
export async function sweep (db: Executor, limit: number): Promise<number> {
  const [row] = await runRows<{ n: number }>(db, q`select credits_sweep(${limit}::int) as n`)
  return Number(row?.n ?? 0)
}

/** What a purchase of this one-time price grants, if it is a package of the project and mode (retired: active false). */
export async function packageForPurchase (db: Executor, w: Wallet, priceId: string): Promise<{ credits: number, expiresInDays: number | null, active: boolean } | null> {
  const [row] = await runRows<{ credits: number | string, expires_in_days: number | null, active: boolean }>(db, q`select credits, expires_in_days, active from credit_packages
    where project_id = ${w.projectId}::uuid and mode = ${w.mode}::text and price_id = ${priceId}::text`)
  return row ? { credits: Number(row.credits), expiresInDays: row.expires_in_days, active: row.active } : null
}

export interface TopUpTerms { currency: string, creditsPerUnit: number, minAmount: number, maxAmount: number, expiresInDays: number | null }

/** The project's custom-amount purchase terms in a mode, if it offers them. */
export async function topUpTerms (db: Executor, w: Wallet): Promise<TopUpTerms | null> {
  const [row] = await runRows<{ currency: string, credits_per_unit: number, min_amount: number | string, max_amount: number | string, expires_in_days: number | null }>(db,
    q`select currency, credits_per_unit, min_amount, max_amount, expires_in_days from credit_top_ups where project_id = ${w.projectId}::uuid and mode = ${w.mode}::text and active`)
  return row ? { currency: row.currency, creditsPerUnit: row.credits_per_unit, minAmount: Number(row.min_amount), maxAmount: Number(row.max_amount), expiresInDays: row.expires_in_days } : null
}
