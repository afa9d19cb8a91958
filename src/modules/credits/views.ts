import type { LedgerRow } from './model.ts'

const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString())
const int = (v: unknown): number => Number(v ?? 0)

/** The balance view from the ledger engine's JSON: integers as numbers, times as ISO strings. */
export function balanceView (b: Record<string, unknown>) {
  const expiring = Array.isArray(b.expiring) ? b.expiring as Array<Record<string, unknown>> : []
  return {
    end_user_id: String(b.end_user_id),
    monthly: int(b.monthly),
    purchased: int(b.purchased),
    bonus: int(b.bonus),
    total: int(b.total),
    reserved: int(b.reserved),
    available: int(b.available),
    debt: int(b.debt),
    next_reset_at: iso(b.next_reset_at),
    expiring: expiring.map((e) => ({ amount: int(e.amount), expires_at: iso(e.expires_at) ?? '' })),
  }
}

/** A body the engine answered, with its balance and times in view form. */
export function answerView (body: Record<string, unknown>) {
  return {
    ...body,
    ...(body.balance ? { balance: balanceView(body.balance as Record<string, unknown>) } : {}),
    ...(body.expires_at ? { expires_at: iso(body.expires_at) } : {}),
  }
}

export function ledgerEntryView (l: LedgerRow) {
  const monthly = int(l.monthly_after)
  const purchased = int(l.purchased_after)
  const bonus = int(l.bonus_after)
  return {
    id: l.id,
    seq: int(l.seq),
    kind: l.kind,
    bucket: l.bucket,
    amount: int(l.amount),
    balance_after: { monthly, purchased, bonus, total: monthly + purchased + bonus, reserved: int(l.reserved_after), debt: int(l.debt_after) },
    lot_id: l.lot_id,
    source: l.source,
    description: l.description,
    created_at: iso(l.created_at) ?? '',
  }
}
