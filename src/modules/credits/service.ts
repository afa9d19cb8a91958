import { createHash } from 'node:crypto'
import type { Db } from '../../platform/db/client.ts'
import { isWriteConflict, retryOnConflict } from '../../platform/db/conflicts.ts'
import { AppError, badRequest, notFound } from '../../platform/http/errors.ts'
import { ConsumeBatcher } from './consume-batcher.ts'
import { adjust, balance, ledgerPage, reserve, settle, type CreditAnswer, type Wallet } from './repository.ts'
import { answerView, balanceView, ledgerEntryView } from './views.ts'

export interface CreditsDeps { db: Db }

/** An answer to send: the body, its status, and whether it is a replay of the key's first answer. */
export interface Answer { status: number, body: Record<string, unknown>, replayed: boolean }

/** sha256 of the operation and its body (defaults applied): the same key with another body is refused. */
export const fingerprintOf = (operation: string, body: unknown): string =>
  createHash('sha256').update(`${operation}\u0000${JSON.stringify(body)}`).digest('hex')

/** An Idempotency-Key header: required, 1..255 printable characters. */
export function idempotencyKeyOf (header: unknown): string {
  if (typeof header !== 'string' || header.length === 0) throw badRequest('idempotency_key_required', 'This request needs an Idempotency-Key header (1 to 255 characters)')
  if (header.length > 255 || !/^[\x21-\x7e]+$/.test(header)) throw badRequest('invalid_idempotency_key', 'The Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces')
  return header
}

const PROBLEMS: Record<string, (a: CreditAnswer) => AppError> = {
  insufficient_credits: (a) => new AppError(402, 'insufficient_credits', 'Payment required', 'The end user has fewer credits available than this needs; nothing was spent',
    { balance: a.balance ? balanceView(a.balance) : null }),
  idempotency_key_reused: () => new AppError(409, 'idempotency_key_reused', 'Conflict', 'This Idempotency-Key was already used with a different request'),
  not_found: () => notFound('reservation'),
  reservation_committed: () => new AppError(409, 'reservation_settled', 'Conflict', 'The reservation was already committed'),
  reservation_released: () => new AppError(409, 'reservation_settled', 'Conflict', 'The reservation was already released'),
  reservation_expired: () => new AppError(409, 'reservation_expired', 'Conflict', 'The reservation passed its TTL and was released'),
  amount_exceeds_reservation: (a) => new AppError(422, 'amount_exceeds_reservation', 'Unprocessable content', 'A commit may spend at most the reserved amount', { reserved: Number(a.reserved) }),
}

/** The engine's answer as a response, or the problem it names. */
function answerOf (a: CreditAnswer): Answer {
  if (a.code !== undefined) {
    const problem = PROBLEMS[a.code]
    if (!problem) throw new Error(`the credits engine answered an unknown code ${a.code}`)
    throw problem(a)
  }
  return { status: a.status, body: answerView(a.body ?? {}), replayed: a.replayed === true }
}

/**
 * Runs an idempotent call; two requests with one key for two wallets race on the key's row, and the
 * one that loses runs again and finds the other's answer (a replay or a 409).
 */
const once = (call: () => Promise<CreditAnswer>): Promise<Answer> =>
  retryOnConflict(async () => answerOf(await call()), 3).catch((err: unknown) => {
    if (isWriteConflict(err)) throw new AppError(409, 'idempotency_key_in_use', 'Conflict', 'Another request with this Idempotency-Key is in progress; retry')
    throw err
  })

/**
 * Consumes in one batch at most, and batches in flight per instance (consume-batcher.ts). Batches in
 * flight never share a wallet, so one busy wallet is one batch at a time and its consumes pile into
 * the next; several batches of other wallets run meanwhile, as single consumes did on several
 * connections. Four rather than one: at a few concurrent callers, one batch at a time serialized
 * consumes that ran side by side before; more would mostly queue on the stats rows (bench/RESULTS.md).
 */
export const CONSUME_BATCH = 100
export const CONSUME_CONCURRENCY = 4

export function createCreditsService ({ db }: CreditsDeps) {
  const consumes = new ConsumeBatcher(db, { concurrency: CONSUME_CONCURRENCY, maxBatch: CONSUME_BATCH })
  return {
    consume: (w: Wallet, key: string, body: { end_user_id: string, amount: number, description: string | null, metadata: Record<string, string> | null }) => {
      const call = { projectId: w.projectId, mode: w.mode, endUserId: body.end_user_id, amount: body.amount, key, fingerprint: fingerprintOf('consume', body), description: body.description, metadata: body.metadata }
      return once(() => consumes.consume(call))
    },

    reserve: (w: Wallet, key: string, body: { end_user_id: string, amount: number, ttl_seconds: number }) =>
      once(() => reserve(db, w, body.end_user_id, body.amount, body.ttl_seconds, key, fingerprintOf('reserve', body))),

    settle: async (w: Wallet, reservationId: string, commit: boolean, amount: number | null) => answerOf(await settle(db, w, reservationId, commit, amount)),

    adjust: (w: Wallet, key: string, body: { end_user_id: string, amount: number, bucket: string, reason: string }) =>
      once(() => adjust(db, w, body.end_user_id, body.amount, body.bucket, body.reason, key, fingerprintOf('adjust', body))),

    async balance (w: Wallet, endUserId: string) {
      return balanceView(await balance(db, w, endUserId))
    },

    async check (w: Wallet, endUserId: string, amount: number) {
      const b = balanceView(await balance(db, w, endUserId))
      return { allowed: b.available >= amount, balance: b }
    },

    /** Newest first; the cursor is the last entry's seq. */
    async ledger (w: Wallet, endUserId: string, q: { limit: number, starting_after?: string | undefined, kind?: string | undefined }) {
      const rows = await ledgerPage(db, w, endUserId, q.limit + 1, q.starting_after ? Number(q.starting_after) : null, q.kind ?? null)
      const page = rows.slice(0, q.limit).map(ledgerEntryView)
      const hasMore = rows.length > q.limit
      return { data: page, has_more: hasMore, next_cursor: hasMore ? String(page.at(-1)?.seq ?? '') : null }
    },
  }
}
