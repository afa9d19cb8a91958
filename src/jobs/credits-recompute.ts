import { sql } from 'drizzle-orm'
import type { Db } from '../platform/db/client.ts'
import { queryRows } from '../platform/db/client.ts'

/**
 * Proves the credits add up, from the ledger (which is never changed) and the payments the grants
 * came from:
 * - every entry's balances are the previous entry's plus its own amount, and seq runs 1, 2, 3 …;
 * - each wallet's cached balance, reserved, debt and seq are its last entry's;
 * - each bucket's open lots hold what the wallet says, and reservations held what it reserves;
 * - each purchased lot paid by a payment has taken back floor(granted × refunded ÷ paid) of it.
 * Unless `check`, the cached wallet rows are rewritten from their last entries (the ledger wins).
 */
export interface CreditDrift { wallet_id: string, end_user_id: string, what: string, stored: string, expected: string }
export interface CreditRecomputeResult { drift: CreditDrift[], wallets: number, entries: number, rewritten: boolean }

export async function recomputeCredits (db: Db, options: { check: boolean, projectId?: string }): Promise<CreditRecomputeResult> {
  const scope = options.projectId ? sql`w.project_id = ${options.projectId}` : sql`true`
  const drift = await queryRows<{ wallet_id: string, end_user_id: string, what: string, stored: string, expected: string }>(db, sql`
    with entries as (
      select l.*, lag(l.monthly_after, 1, 0::bigint) over w_seq as m0, lag(l.purchased_after, 1, 0::bigint) over w_seq as p0, lag(l.bonus_after, 1, 0::bigint) over w_seq as b0,
        lag(l.reserved_after, 1, 0::bigint) over w_seq as r0, lag(l.debt_after, 1, 0::bigint) over w_seq as d0, row_number() over w_seq as n
      from credit_ledger l join credit_wallets w on w.id = l.wallet_id where ${scope}
      window w_seq as (partition by l.wallet_id order by l.seq)
    ),
    chain as (
      select wallet_id, 'entry ' || seq || ' (' || kind || ')' as what,
        concat_ws('/', monthly_after, purchased_after, bonus_after, reserved_after, debt_after, seq) as stored,
        concat_ws('/', m0 + case when bucket = 'monthly' then amount else 0 end, p0 + case when bucket = 'purchased' then amount else 0 end,
          b0 + case when bucket = 'bonus' then amount else 0 end,
          r0 + case when bucket is null and kind in ('reserve', 'release') then amount else 0 end,
          d0 + case when kind = 'debt' then amount else 0 end, n) as expected
      from entries
    ),
    last as (select distinct on (wallet_id) * from credit_ledger order by wallet_id, seq desc),
    wallets as (
      select w.id as wallet_id, 'wallet balance' as what,
        concat_ws('/', w.monthly, w.purchased, w.bonus, w.reserved, w.debt, w.seq) as stored,
        concat_ws('/', coalesce(l.monthly_after, 0), coalesce(l.purchased_after, 0), coalesce(l.bonus_after, 0), coalesce(l.reserved_after, 0), coalesce(l.debt_after, 0), coalesce(l.seq, 0)) as expected
      from credit_wallets w left join last l on l.wallet_id = w.id where ${scope}
    ),
    lots as (
      select w.id as wallet_id, 'open lots / held reservations' as what,
        concat_ws('/', w.monthly, w.purchased, w.bonus, w.reserved) as stored,
        concat_ws('/', (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'monthly'),
          (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'purchased'),
          (select coalesce(sum(remaining), 0) from credit_lots where wallet_id = w.id and bucket = 'bonus'),
          (select coalesce(sum(amount), 0) from credit_reservations where wallet_id = w.id and status = 'held')) as expected
      from credit_wallets w where ${scope}
    ),
    refunds as (
      select lo.wallet_id, 'taken back from ' || lo.source as what, lo.taken_back::text as stored,
        ((lo.granted * least(t.amount_refunded, coalesce(lo.paid_amount, t.amount))) / nullif(coalesce(lo.paid_amount, t.amount), 0))::text as expected
      from credit_lots lo join credit_wallets w on w.id = lo.wallet_id
      join transactions t on t.project_id = lo.project_id and t.mode = lo.mode and t.stripe_payment_intent_id = lo.stripe_payment_intent_id
      where ${scope} and lo.bucket = 'purchased' and lo.stripe_payment_intent_id is not null
    )
    select d.wallet_id, w.end_user_id, d.what, d.stored, d.expected
    from (select * from chain union all select * from wallets union all select * from lots union all select * from refunds) d
    join credit_wallets w on w.id = d.wallet_id
    where d.stored is distinct from d.expected
    order by w.end_user_id, d.what`)
  // The credit stats: each day's movements and what is outstanding, from the ledger.
  const pscope = options.projectId ? sql`project_id = ${options.projectId}` : sql`true`
  const statsDrift = await queryRows<{ project_id: string, mode: string, what: string, stored: string, expected: string }>(db, sql`
    with expected_daily as (
      select w.project_id, w.mode, (l.created_at at time zone 'UTC')::date as day,
        sum(case when l.kind in ('grant', 'referral_bonus') or (l.kind = 'adjustment' and l.amount > 0) then l.amount else 0 end) as granted,
        sum(case when l.kind = 'consume' or (l.kind = 'adjustment' and l.amount < 0) then -l.amount else 0 end) as consumed,
        sum(case when l.kind in ('expire', 'reset') then -l.amount else 0 end) as expired,
        sum(case when l.kind = 'clawback' then -l.amount else 0 end) as clawed_back
      from credit_ledger l join credit_wallets w on w.id = l.wallet_id where l.bucket is not null and ${scope} group by 1, 2, 3
    ),
    stored_daily as (
      select project_id, mode, day, sum(granted) as granted, sum(consumed) as consumed, sum(expired) as expired, sum(clawed_back) as clawed_back
      from stats_credits_daily where ${pscope} group by 1, 2, 3
    ),
    daily as (
      select coalesce(e.project_id, s.project_id) as project_id, coalesce(e.mode, s.mode) as mode, 'credits on ' || coalesce(e.day, s.day)::text as what,
        concat_ws('/', coalesce(s.granted, 0), coalesce(s.consumed, 0), coalesce(s.expired, 0), coalesce(s.clawed_back, 0)) as stored,
        concat_ws('/', coalesce(e.granted, 0), coalesce(e.consumed, 0), coalesce(e.expired, 0), coalesce(e.clawed_back, 0)) as expected
      from expected_daily e full join stored_daily s on s.project_id = e.project_id and s.mode = e.mode and s.day = e.day
    ),
    outstanding as (
      select coalesce(e.project_id, s.project_id) as project_id, coalesce(e.mode, s.mode) as mode, 'credits outstanding' as what,
        coalesce(s.n, 0)::text as stored, coalesce(e.n, 0)::text as expected
      from (select w.project_id, w.mode, sum(w.monthly + w.purchased + w.bonus) as n from credit_wallets w where ${scope} group by 1, 2) e
      full join (select project_id, mode, sum(outstanding) as n from stats_credits_current where ${pscope} group by 1, 2) s on s.project_id = e.project_id and s.mode = e.mode
    )
    select * from (select * from daily union all select * from outstanding) d where d.stored is distinct from d.expected order by project_id, mode, what`)
  for (const d of statsDrift) drift.push({ wallet_id: '', end_user_id: '', what: `project ${d.project_id} ${d.mode}: ${d.what}`, stored: d.stored, expected: d.expected })
  const [counts] = await queryRows<{ wallets: number, entries: number }>(db, sql`select (select count(*)::int from credit_wallets w where ${scope}) as wallets,
    (select count(*)::int from credit_ledger l join credit_wallets w on w.id = l.wallet_id where ${scope}) as entries`)
  let rewritten = false
  if (!options.check && drift.some((d) => d.what === 'wallet balance')) {
    await db.execute(sql`update credit_wallets w set monthly = l.monthly_after, purchased = l.purchased_after, bonus = l.bonus_after, reserved = l.reserved_after,
        debt = l.debt_after, seq = l.seq, updated_at = now()
      from (select distinct on (wallet_id) * from credit_ledger order by wallet_id, seq desc) l where l.wallet_id = w.id and ${scope}
        and (w.monthly, w.purchased, w.bonus, w.reserved, w.debt, w.seq) is distinct from (l.monthly_after, l.purchased_after, l.bonus_after, l.reserved_after, l.debt_after, l.seq)`)
    rewritten = true
  }
  return { drift, wallets: counts?.wallets ?? 0, entries: counts?.entries ?? 0, rewritten }
}
