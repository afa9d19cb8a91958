import t from 'tap'
import fc from 'fast-check'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { creditEffects } from '../../src/modules/credits/effects.ts'
import type { CreditOp } from '../../src/modules/credits/model.ts'
import { sweep } from '../../src/modules/credits/repository.ts'
import { applyJob } from '../../src/webhooks/pipeline/apply.ts'
import { buildTestApp, createProject, newDeveloper, TEST_DATABASE_URL } from '../helpers/app.ts'
import { createApiKey, creditsCall } from '../helpers/credits.ts'

/**
 * Events and API calls, interleaved. A history is a list of steps: event operations, written through
 * the pipeline as the webhook batch writes them (purchases that never expire, expired already, or
 * expire a second after they first arrive; cumulative refunds; a plan's invoices for successive
 * periods, with or without rollover, so older periods reset; a trial before them; the subscription's
 * end), API calls with an API key over HTTP (consumes, some repeating an earlier Idempotency-Key with
 * its body, a replay, or with another, a 409; reservations of an amount or of all that is available,
 * some with a 1 s TTL, committed in full or in part, released, or left to expire; adjustments ±), and
 * two steps of time: a tick (wait until everything due in the history has come due; one is also taken
 * before a step that a deadline would otherwise fall inside) and the sweep.
 *
 * Each history runs for three end users of one project, step by step in lockstep:
 * - in order: every event delivered once, in the history's order;
 * - shuffled: API calls, ticks and sweeps are barriers; the events between two barriers (a segment)
 *   are delivered in an order drawn from the seed, each once or twice, mixed with re-deliveries of
 *   events of earlier segments, and more re-deliveries follow the last step;
 * - replayed: every event once, in the order the shuffled run first received it.
 * Then the sweep runs once more.
 *
 * The property, for every history:
 * 1. Duplicates change nothing: the shuffled run equals the replayed one: the wallet (each bucket,
 *    reserved, debt, next reset), each lot (credits left), the reservations (amount, status), the
 *    ledger summed per kind, bucket and lot, and every API call's answer (status, problem code,
 *    amount, committed, replayed, and the balance it carries).
 * 2. The order within a segment changes nothing: the shuffled run has the in-order run's lots (source,
 *    bucket, granted, taken back, expiry, period), and the same wallet, reservations, answers, credits
 *    left per lot class (bucket and expiry) and ledger summed per kind, bucket and lot class; `reset`
 *    and `expire` count as one kind there (whether a newer period or the subscription's end closes a
 *    period's lot depends on which arrives first), and debt recorded counts without the refund that
 *    recorded it (of two refunds, the second finds nothing left). The lots are always compared; the
 *    rest is not when the documented rules make the outcome depend on the order: some segment held two
 *    grants (a purchase not expired already, an invoice, a trial), or a grant and a refund of another
 *    payment, and in either run a refund took from another lot than its own or debt was recorded. A refund
 *    takes from the other lots by soonest expiry among those there at that moment, debt is paid by
 *    whichever grant comes next, and lots of one class are spent first come, first spent, so there the
 *    order decides which lots keep the credits (and may then expire or reset).
 * 3. Invariants, for every wallet: each ledger entry follows from the one before (seq 1, 2, 3 …; each
 *    balance after = the one before + the entry); the wallet equals its last entry, its open lots per
 *    bucket and its held reservations; each lot's remaining is its entries' sum, within 0..granted; a
 *    lot has one grant, and past its expiry nothing but its `expire` entry touches it; no bucket,
 *    reserved or debt is ever below zero; no consume leaves less than nothing available, and a commit
 *    spends what the lots hold and records the rest as debt; what refunds took back was clawed back or
 *    recorded as debt; each Idempotency-Key of a consume or reservation has one effect at most (one
 *    id, spent or set aside once, as much as its answer says); every answer has a documented status,
 *    and every balance shown has available = max(0, total − reserved − debt); the project's credits
 *    outstanding (stats) equal its wallets' totals.
 * When a deadline (a near expiry, a short TTL) still fell inside a step, the runs may have seen it on
 * either side: such a history is checked for 3 and the lots of 2.
 *
 * The histories that found bugs (migrations 0013, 0014, 0015, 0020; 0018, found by the reliability
 * suite) run first, every time.
 * Runs: CREDITS_PROPERTY_RUNS (default 80 on PostgreSQL, 40 on the embedded database, within 90 s).
 */
const RUNS = Number(process.env.CREDITS_PROPERTY_RUNS ?? (TEST_DATABASE_URL ? 80 : 40))
/** A near expiry: this long after its purchase first reaches the engine; a short reservation lives 1 s. */
const NEAR_MS = 1000
/** A tick is taken before a step when a deadline is this close, so that no deadline falls inside a step. */
const GUARD_MS = 250
const SLACK_MS = 15

type Expiry = 'never' | 'past' | 'near'
type Bucket = 'monthly' | 'purchased' | 'bonus'
type KeyUse = { kind: 'new' } | { kind: 'replay', of: number } | { kind: 'reuse', of: number }
type Action =
  | { t: 'purchase', credits: number, paid: number, expiry: Expiry }
  | { t: 'refund', of: number, share: number }
  | { t: 'invoice', quantity: number }
  | { t: 'trial' }
  | { t: 'close' }
  | { t: 'consume', amount: number, key: KeyUse }
  | { t: 'reserve', amount: number | 'all', short: boolean, replay: number | null }
  | { t: 'commit', of: number, part: number | null }
  | { t: 'release', of: number }
  | { t: 'adjust', amount: number, bucket: Bucket, replay: number | null }
  | { t: 'tick' }
  | { t: 'sweep' }

// References to earlier steps count back from the latest: 0 is the latest purchase, reservation, key.
const back = fc.nat({ max: 3 })
/** A reference to an earlier step one time in six (a replay of its Idempotency-Key), else null. */
const sometimes = (arb: fc.Arbitrary<number>) => fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb })
const keyUse: fc.Arbitrary<KeyUse> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'new' as const }) },
  { weight: 1, arbitrary: back.map((of) => ({ kind: 'replay' as const, of })) },
  { weight: 1, arbitrary: back.map((of) => ({ kind: 'reuse' as const, of })) },
)
const eventAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('purchase' as const), credits: fc.integer({ min: 1, max: 400 }), paid: fc.integer({ min: 1, max: 9999 }), expiry: fc.constantFrom<Expiry>('never', 'never', 'never', 'past', 'near') }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('refund' as const), of: back, share: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(100)) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('invoice' as const), quantity: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'trial' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'close' as const }) },
)
const callAction: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ t: fc.constant('consume' as const), amount: fc.integer({ min: 1, max: 150 }), key: keyUse }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('reserve' as const), amount: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.constant('all' as const)), short: fc.constantFrom(false, false, true), replay: sometimes(back) }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('commit' as const), of: back, part: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 100 }), fc.constant(150)) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('release' as const), of: back }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('adjust' as const), amount: fc.oneof(fc.integer({ min: -200, max: -1 }), fc.integer({ min: 1, max: 300 })), bucket: fc.constantFrom<Bucket>('monthly', 'purchased', 'bonus'), replay: sometimes(back) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'tick' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'sweep' as const }) },
)
/** Events come in bursts of one to five (a segment, when no call comes between), calls one by one. */
const history = fc.record({
  actions: fc.array(fc.oneof({ weight: 1, arbitrary: fc.array(eventAction, { minLength: 1, maxLength: 5 }) }, { weight: 2, arbitrary: callAction.map((a) => [a]) }), { minLength: 1, maxLength: 30, size: 'large' }).map((chunks) => chunks.flat()),
  rollover: fc.boolean(),
  trialCredits: fc.integer({ min: 1, max: 200 }),
  seed: fc.integer(),
})

/** An event of the history, for any end user. */
type Event =
  | { e: 'purchase', i: number, credits: number, paid: number, expiry: Expiry }
  | { e: 'refund', of: number, refunded: number, paid: number }
  | { e: 'invoice', k: number, quantity: number }
  | { e: 'trial' }
  | { e: 'close' }
/** A barrier: an API call (its Idempotency-Key's suffix and body, for any end user), a tick or the sweep. */
type Call =
  | { c: 'consume', key: string, amount: number, description: string }
  | Reserve
  | { c: 'commit', of: Reserve, part: number | null }
  | { c: 'release', of: Reserve }
  | { c: 'adjust', key: string, amount: number, bucket: Bucket }
  | { c: 'tick' }
  | { c: 'sweep' }
/** A reservation: `all` sets aside what the in-order end user has available then (the same amount for every run). */
interface Reserve { c: 'reserve', key: string, amount: number | 'all', ttl: number, n: number, resolved?: number }
type Step = { segment: Event[] } | { call: Call }

/** The actions as steps: references resolved to earlier steps (dropped when there are none). */
function stepsOf (actions: Action[]): Step[] {
  const steps: Step[] = []
  const purchases: Array<{ paid: number, refunded: number }> = []
  const consumes: Array<Extract<Call, { c: 'consume' }>> = []
  const reserves: Reserve[] = []
  const adjusts: Array<Extract<Call, { c: 'adjust' }>> = []
  const settled = new Set<number>()
  let periods = 0
  let trial = false
  let closed = false
  const event = (e: Event) => {
    const last = steps.at(-1)
    if (last && 'segment' in last) last.segment.push(e)
    else steps.push({ segment: [e] })
  }
  const call = (c: Call) => steps.push({ call: c })
  const earlier = <T>(list: T[], back: number | null): T | undefined => (back === null || list.length === 0 ? undefined : list[list.length - 1 - (back % list.length)])
  for (const [n, a] of actions.entries()) {
    switch (a.t) {
      case 'purchase':
        event({ e: 'purchase', i: purchases.length, credits: a.credits, paid: a.paid, expiry: a.expiry })
        purchases.push({ paid: a.paid, refunded: 0 })
        break
      case 'refund': {
        const of = purchases.length - 1 - (a.of % Math.max(purchases.length, 1))
        const p = purchases[of]
        if (!p) break
        p.refunded = Math.min(p.paid, p.refunded + Math.max(1, Math.floor((p.paid * a.share) / 100)))
        event({ e: 'refund', of, refunded: p.refunded, paid: p.paid })
        break
      }
      case 'invoice':
        if (!closed) event({ e: 'invoice', k: periods++, quantity: a.quantity })
        break
      case 'trial':
        // A trial comes before the first paid period, once.
        if (!trial && periods === 0) { trial = true; event({ e: 'trial' }) }
        break
      case 'close':
        if (!closed && (periods > 0 || trial)) { closed = true; event({ e: 'close' }) }
        break
      case 'consume': {
        const first = earlier(consumes, a.key.kind === 'new' ? null : a.key.of)
        const c: Extract<Call, { c: 'consume' }> = a.key.kind === 'replay' && first
          ? first
          : a.key.kind === 'reuse' && first
            ? { ...first, amount: first.amount + 1 }
            : { c: 'consume', key: `c${n}`, amount: a.amount, description: `step ${n}` }
        consumes.push(c)
        call(c)
        break
      }
      case 'reserve': {
        const first = earlier(reserves, a.replay)
        const c: Reserve = first ?? { c: 'reserve', key: `r${n}`, amount: a.amount, ttl: a.short ? 1 : 300, n: reserves.length }
        if (!first) reserves.push(c)
        call(c)
        break
      }
      case 'commit':
      case 'release': {
        // One not settled yet if there is one (else a settled one again: 409).
        const open = reserves.filter((x) => !settled.has(x.n))
        const r = earlier(open.length > 0 ? open : reserves, a.of)
        if (!r) break
        settled.add(r.n)
        call(a.t === 'release' ? { c: 'release', of: r } : { c: 'commit', of: r, part: a.part })
        break
      }
      case 'adjust': {
        const first = earlier(adjusts, a.replay)
        const c = first ?? { c: 'adjust' as const, key: `a${n}`, amount: a.amount, bucket: a.bucket }
        if (!first) adjusts.push(c)
        call(c)
        break
      }
      case 'tick': call({ c: 'tick' }); break
      case 'sweep': call({ c: 'sweep' }); break
    }
  }
  return steps
}

/**
 * Whether a segment's outcome may depend on its order by the documented rules: two grants (a purchase
 * that is not expired already, an invoice, a trial), or a grant and a refund of another payment.
 */
function orderMatters (steps: Step[]): boolean {
  return steps.some((step) => {
    if (!('segment' in step)) return false
    const grants = step.segment.filter((e) => (e.e === 'purchase' && e.expiry !== 'past') || e.e === 'invoice' || e.e === 'trial')
    const refunds = step.segment.filter((e) => e.e === 'refund')
    return grants.length >= 2 || (grants.length === 1 && refunds.some((r) => !(grants[0]?.e === 'purchase' && grants[0].i === r.of)))
  })
}

interface Balance { monthly: number, purchased: number, bonus: number, total: number, reserved: number, available: number, debt: number, next_reset_at: string | null, expiring: Array<{ amount: number, expires_at: string }> }
/** What an API call answered, as compared between the runs. */
interface Answer { status: number, code?: string, replayed?: boolean, amount?: number, committed?: number, balance?: Balance }

const rows = <T extends Record<string, unknown>>(app: FastifyInstance, query: ReturnType<typeof sql>) => queryRows<T>(app.db, query)
const num = (v: unknown): number => Number(v)
const iso = (v: unknown): string | null => (v === null || v === undefined ? null : new Date(v as string).toISOString())
const ms = (v: unknown): number => new Date(v as string).getTime()

interface LedgerRow { seq: number, kind: string, bucket: string | null, amount: number, monthly: number, purchased: number, bonus: number, reserved: number, debt: number, lot: string | null, source: string | null, at: number }
interface LotRow { id: string, source: string, bucket: string, granted: number, remaining: number, taken_back: number, expires_at: string | null, period_start: string | null }
interface WalletState {
  wallet: { monthly: number, purchased: number, bonus: number, reserved: number, debt: number, seq: number, next_reset_at: string | null } | null
  lots: LotRow[]
  ledger: LedgerRow[]
  reservations: Array<{ id: string, amount: number, status: string }>
}

/** An end user's wallet, lots (sources without the end user's prefix), ledger and reservations, read from the tables. */
async function stateOf (app: FastifyInstance, projectId: string, user: string): Promise<WalletState> {
  const [w] = await rows(app, sql`select id, monthly, purchased, bonus, reserved, debt, seq, next_reset_at from credit_wallets
    where project_id = ${projectId} and mode = 'test' and end_user_id = ${user}`)
  if (!w) return { wallet: null, lots: [], ledger: [], reservations: [] }
  const id = String(w.id)
  const unprefixed = (source: unknown) => String(source).replaceAll(user, 'U')
  const lots = (await rows(app, sql`select id, source, bucket, granted, remaining, taken_back, expires_at, period_start from credit_lots where wallet_id = ${id}`))
    .map((l) => ({
      id: String(l.id), source: unprefixed(l.source), bucket: String(l.bucket), granted: num(l.granted), remaining: num(l.remaining), taken_back: num(l.taken_back),
      expires_at: iso(l.expires_at), period_start: iso(l.period_start),
    })).sort((a, b) => (a.source < b.source ? -1 : 1))
  const ledger = (await rows(app, sql`select seq, kind, bucket, amount, monthly_after, purchased_after, bonus_after, reserved_after, debt_after, lot_id, source, created_at
    from credit_ledger where wallet_id = ${id} order by seq`)).map((l) => ({
    seq: num(l.seq), kind: String(l.kind), bucket: l.bucket === null ? null : String(l.bucket), amount: num(l.amount), monthly: num(l.monthly_after), purchased: num(l.purchased_after),
    bonus: num(l.bonus_after), reserved: num(l.reserved_after), debt: num(l.debt_after), lot: l.lot_id === null ? null : String(l.lot_id),
    source: l.source === null ? null : unprefixed(l.source), at: ms(l.created_at),
  }))
  const reservations = (await rows(app, sql`select id, amount, status from credit_reservations where wallet_id = ${id}`))
    .map((r) => ({ id: String(r.id), amount: num(r.amount), status: String(r.status) }))
  return {
    wallet: { monthly: num(w.monthly), purchased: num(w.purchased), bonus: num(w.bonus), reserved: num(w.reserved), debt: num(w.debt), seq: num(w.seq), next_reset_at: iso(w.next_reset_at) },
    lots, ledger, reservations,
  }
}

/** An answer's balance, or the problem's. */
function balanceIn (body: Record<string, unknown>): Balance | undefined {
  const b = body.balance as Balance | null | undefined
  return b ? { monthly: b.monthly, purchased: b.purchased, bonus: b.bonus, total: b.total, reserved: b.reserved, available: b.available, debt: b.debt, next_reset_at: b.next_reset_at, expiring: b.expiring } : undefined
}

/** One run's record of its API calls: answers in order, and what each key and reservation produced. */
interface Run {
  user: string
  answers: Answer[]
  /** `consume <key>` or `reserve <key>` → the ids its 200/201 answers named. */
  keyIds: Map<string, Set<string>>
  /** Reservation n of the history → its id (once a reserve answered 201). */
  reservations: Map<number, string>
  /** Reservation id → credits committed by its one successful commit. */
  committed: Map<string, number>
  /** Consumption id → credits its 200 answer spent. */
  consumed: Map<string, number>
  /** When this run's short reservations expire (ms). */
  deadlines: number[]
}
const runOf = (user: string): Run => ({ user, answers: [], keyIds: new Map(), reservations: new Map(), committed: new Map(), consumed: new Map(), deadlines: [] })

const BUCKETS = ['monthly', 'purchased', 'bonus'] as const
const AFTER = ['monthly', 'purchased', 'bonus', 'reserved', 'debt'] as const

/** What the invariants say about one wallet, as a list of what broke (empty when all hold). */
function brokenInvariants (s: WalletState, run: Run): string[] {
  const broken: string[] = []
  const w = s.wallet
  if (!w) return s.ledger.length > 0 ? ['ledger without a wallet'] : []
  // Each entry follows from the one before; nothing below zero.
  const prev = { monthly: 0, purchased: 0, bonus: 0, reserved: 0, debt: 0 }
  s.ledger.forEach((e, i) => {
    if (e.seq !== i + 1) broken.push(`seq ${e.seq} at position ${i + 1}`)
    const next = { ...prev }
    if (e.bucket === 'monthly' || e.bucket === 'purchased' || e.bucket === 'bonus') next[e.bucket] += e.amount
    if (e.kind === 'debt') next.debt += e.amount
    else if (e.bucket === null) next.reserved += e.amount
    for (const k of AFTER) {
      if (next[k] !== e[k]) broken.push(`seq ${e.seq} (${e.kind}): ${k} after is ${e[k]}, the entries add up to ${next[k]}`)
      if (e[k] < 0) broken.push(`seq ${e.seq} (${e.kind}): ${k} below zero (${e[k]})`)
      prev[k] = e[k]
    }
  })
  // The wallet is its last entry, its open lots and its held reservations.
  const last = s.ledger.at(-1)
  if (w.seq !== s.ledger.length) broken.push(`wallet seq ${w.seq}, ${s.ledger.length} entries`)
  for (const k of AFTER) if (w[k] !== (last?.[k] ?? 0)) broken.push(`wallet ${k} ${w[k]}, last entry ${last?.[k] ?? 0}`)
  for (const b of BUCKETS) {
    const lots = s.lots.filter((l) => l.bucket === b).reduce((n, l) => n + l.remaining, 0)
    if (lots !== w[b]) broken.push(`wallet ${b} ${w[b]}, its lots hold ${lots}`)
  }
  const held = s.reservations.filter((r) => r.status === 'held').reduce((n, r) => n + r.amount, 0)
  if (held !== w.reserved) broken.push(`wallet reserved ${w.reserved}, held reservations ${held}`)
  // Each lot: its entries' sum, one grant, untouched once expired but for its expiry.
  for (const l of s.lots) {
    const entries = s.ledger.filter((e) => e.lot === l.id && e.bucket !== null)
    const sum = entries.reduce((n, e) => n + e.amount, 0)
    if (sum !== l.remaining) broken.push(`lot ${l.source}: remaining ${l.remaining}, its entries add up to ${sum}`)
    if (l.remaining < 0 || l.remaining > l.granted) broken.push(`lot ${l.source}: remaining ${l.remaining} of ${l.granted}`)
    const grants = entries.filter((e) => e.amount > 0)
    if (grants.length !== 1 || grants[0]?.amount !== l.granted || entries[0] !== grants[0]) broken.push(`lot ${l.source}: granted by ${JSON.stringify(grants.map((e) => [e.kind, e.amount]))}`)
    const expiresAt = l.expires_at === null ? null : ms(l.expires_at)
    for (const e of entries) {
      if (expiresAt !== null && e.amount < 0 && e.kind !== 'expire' && e.at >= expiresAt) broken.push(`lot ${l.source}: ${e.kind} ${e.amount} (seq ${e.seq}) after its expiry`)
    }
    if (entries.filter((e) => e.kind === 'expire' && l.expires_at !== null && e.source === l.source).length > 1) broken.push(`lot ${l.source}: expired twice`)
  }
  // What refunds took back was clawed back or recorded as debt.
  const takenBack = s.lots.reduce((n, l) => n + l.taken_back, 0)
  const recovered = s.ledger.reduce((n, e) => n + (e.kind === 'clawback' ? -e.amount : e.kind === 'debt' && e.bucket === null && !e.source?.startsWith('reservation:') ? e.amount : 0), 0)
  if (takenBack !== recovered) broken.push(`refunds took back ${takenBack}, clawed back or owed ${recovered}`)
  // No key spends twice: one id per key, each consumption and reservation in the ledger once, for what its answer said.
  for (const [key, ids] of run.keyIds) if (ids.size > 1) broken.push(`key ${key} answered ${ids.size} different ids`)
  const spent = new Map<string, number>()
  const add = (k: string, n: number) => spent.set(k, (spent.get(k) ?? 0) + n)
  for (const e of s.ledger) {
    if (e.kind === 'consume') add(`spent ${e.source ?? ''}`, -e.amount)
    if (e.kind === 'reserve') add(`set aside ${e.source ?? ''}`, e.amount)
  }
  const expected = new Map<string, number>()
  for (const [id, n] of run.consumed) expected.set(`spent consumption:${id}`, n)
  for (const [id, n] of run.committed) if (n > 0) expected.set(`spent reservation:${id}`, n - s.ledger.filter((e) => e.kind === 'debt' && e.source === `reservation:${id}`).reduce((x, e) => x + e.amount, 0))
  for (const r of s.reservations) expected.set(`set aside reservation:${r.id}`, r.amount)
  const reservedIds = new Set([...run.keyIds.entries()].filter(([k]) => k.startsWith('reserve ')).flatMap(([, ids]) => [...ids]))
  if (s.reservations.length !== reservedIds.size || s.reservations.some((r) => !reservedIds.has(r.id))) broken.push(`${s.reservations.length} reservations, ${reservedIds.size} answered`)
  for (const [what, n] of spent) if (expected.get(what) !== n) broken.push(`${what}: ${n} in the ledger, ${expected.get(what) ?? 'none'} answered`)
  for (const [what, n] of expected) if (n > 0 && !spent.has(what)) broken.push(`${what}: answered ${n}, not in the ledger`)
  return broken
}

/** What the runs share whatever the order: the lots that exist and what refunds took back of each. */
const lotIdentities = (s: WalletState) => s.lots.map(({ source, bucket, granted, taken_back: takenBack, expires_at: expiresAt, period_start: periodStart }) =>
  ({ source, bucket, granted, taken_back: takenBack, expires_at: expiresAt, period_start: periodStart }))

/** Whether a refund took from another lot than its own, or debt was recorded. */
const tookFromOthers = (s: WalletState) => s.ledger.some((e) => e.kind === 'debt' ||
  (e.kind === 'clawback' && s.lots.find((l) => l.id === e.lot)?.source !== e.source))

/** The outcome the runs are compared on: per lot (same order of arrival) or per lot class (bucket and expiry). */
function outcome (s: WalletState, run: Run, per: 'lot' | 'class') {
  const keyOf = (lot: string | null) => {
    const l = s.lots.find((x) => x.id === lot)
    return !l ? '-' : per === 'lot' ? l.source : `${l.bucket}/${l.expires_at ?? 'never'}`
  }
  const left = new Map<string, number>()
  for (const l of s.lots) left.set(keyOf(l.id), (left.get(keyOf(l.id)) ?? 0) + l.remaining)
  const ledger = new Map<string, number>()
  for (const e of s.ledger) {
    // Which of a newer period and the subscription's end closes a period's lot first depends on the order.
    const kind = per === 'class' && (e.kind === 'reset' || e.kind === 'expire') ? 'expire/reset' : e.kind
    // Debt recorded names the refunded lot: of two refunds, which one finds nothing left depends on the order.
    const lot = per === 'class' && e.kind === 'debt' && e.bucket === null ? null : e.lot
    const k = `${kind} ${e.bucket ?? '-'} ${keyOf(lot)}`
    ledger.set(k, (ledger.get(k) ?? 0) + e.amount)
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].filter(([, n]) => n !== 0).sort(([a], [b]) => (a < b ? -1 : 1))
  const w = s.wallet
  return {
    wallet: w ? { monthly: w.monthly, purchased: w.purchased, bonus: w.bonus, reserved: w.reserved, debt: w.debt, next_reset_at: w.next_reset_at } : null,
    left: sorted(left),
    ledger: sorted(ledger),
    reservations: s.reservations.map((r) => `${r.amount} ${r.status}`).sort(),
    answers: run.answers,
  }
}

t.test('interleaved events and API calls, shuffled and duplicated between the calls, end where the in-order run ends', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const { key: apiKey } = await createApiKey({ app, dev, project })
  const owner = { project: project.id, mode: 'test' as const }
  const counts = { runs: 0, exact: 0, orderSensitive: 0, timing: 0, ticks: 0, deliveries: 0, calls: 0, debt: 0, shortfalls: 0, expired: 0, diverged: 0 }
  const statuses = new Map<string, number>()
  const started = Date.now()

  const deliver = (op: CreditOp) => applyJob(app.db, { record: null, effects: creditEffects(op) }, { slot: 0 })

  await fc.assert(fc.asyncProperty(history, async (h) => {
    const run = ++counts.runs
    const price = `price_prop${run}`
    await app.db.execute(sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, trial_credits, rollover, currency, interval)
      values (${project.id}, 'test', ${price}, 'prod_x', 1, ${h.trialCredits}, ${h.rollover}, 'usd', 'month')`)
    const steps = stepsOf(h.actions)
    const inOrder = runOf(`p${run}a`)
    const shuffled = runOf(`p${run}b`)
    const replayed = runOf(`p${run}c`)
    const runs = [inOrder, shuffled, replayed]

    // Expiry times are fixed when a purchase first reaches the engine, the same for every end user.
    const expiries = new Map<number, string | null>()
    const nearDeadlines: number[] = []
    const deadlines = () => [...nearDeadlines, ...runs.flatMap((r) => r.deadlines)]
    const expiresAt = (e: Extract<Event, { e: 'purchase' }>): string | null => {
      if (!expiries.has(e.i)) {
        const at = e.expiry === 'never' ? null : e.expiry === 'past' ? Date.now() - 86_400_000 : Date.now() + NEAR_MS
        if (e.expiry === 'near' && at !== null) nearDeadlines.push(at)
        expiries.set(e.i, at === null ? null : new Date(at).toISOString())
      }
      return expiries.get(e.i) ?? null
    }
    const opOf = (e: Event, user: string): CreditOp => {
      switch (e.e) {
        case 'purchase': return { op: 'purchase', ...owner, end_user: user, customer: null, amount: e.credits, source: `transaction:${user}|t${e.i}`, payment_intent: `pi_${user}_${e.i}`, paid: e.paid, expires_at: expiresAt(e), description: null }
        case 'refund': return { op: 'refund', ...owner, payment_intent: `pi_${user}_${e.of}`, refunded: e.refunded, paid: e.paid, description: 'refund' }
        case 'invoice': return {
          op: 'plan_invoice', ...owner, end_user: user, customer: null, price, quantity: e.quantity, source: `invoice:${user}|in${e.k}`,
          period_start: new Date(Date.UTC(2026, e.k, 1)).toISOString(), period_end: new Date(Date.UTC(2026, e.k + 1, 1)).toISOString(), payment_intent: null, paid: 100, subscription: `sub_${user}`,
        }
        case 'trial': return {
          op: 'trial', ...owner, end_user: user, customer: null, price, quantity: 1, source: `trial:sub_${user}`,
          period_start: new Date(Date.UTC(2025, 11, 1)).toISOString(), period_end: new Date(Date.UTC(2026, 0, 1)).toISOString(), subscription: `sub_${user}`,
        }
        case 'close': return { op: 'close', ...owner, end_user: user, customer: null, source: `subscription:sub_${user}`, subscription: `sub_${user}`, description: 'subscription ended' }
      }
    }

    const answer = (r: Run, res: LightMyRequestResponse, idKey: string | null): Answer => {
      statuses.set(String(res.statusCode), (statuses.get(String(res.statusCode)) ?? 0) + 1)
      if (![200, 201, 402, 409, 422].includes(res.statusCode)) throw new Error(`${r.user}: an undocumented answer ${res.statusCode} ${res.body}`)
      const body = res.json<Record<string, unknown>>()
      const a: Answer = { status: res.statusCode }
      if (typeof body.code === 'string') a.code = body.code
      if (res.headers['idempotent-replayed'] === 'true') a.replayed = true
      if (typeof body.amount === 'number') a.amount = body.amount
      if (typeof body.committed === 'number') a.committed = body.committed
      const b = balanceIn(body)
      if (b) {
        a.balance = b
        if (b.total !== b.monthly + b.purchased + b.bonus || b.available !== Math.max(0, b.total - b.reserved - b.debt)) throw new Error(`${r.user}: a balance that does not add up ${JSON.stringify(b)}`)
      }
      if (idKey !== null && (res.statusCode === 200 || res.statusCode === 201) && typeof body.id === 'string') {
        r.keyIds.set(idKey, (r.keyIds.get(idKey) ?? new Set<string>()).add(body.id))
      }
      return a
    }

    const amountOf = (c: Reserve): number => c.resolved ?? (typeof c.amount === 'number' ? c.amount : 1)
    const callOf = async (r: Run, c: Call): Promise<void> => {
      const u = r.user
      switch (c.c) {
        case 'consume': {
          const res = await creditsCall({ app }, apiKey, 'POST', '/consume', { end_user_id: u, amount: c.amount, description: c.description }, `${u}|${c.key}`)
          const a = answer(r, res, `consume ${c.key}`)
          if (res.statusCode === 200 && a.replayed !== true) r.consumed.set(res.json<{ id: string }>().id, c.amount)
          if (res.statusCode === 200 && a.balance && a.balance.total - a.balance.reserved - a.balance.debt < 0) throw new Error(`${u}: a consume left less than nothing available ${JSON.stringify(a.balance)}`)
          r.answers.push(a)
          return
        }
        case 'reserve': {
          const res = await creditsCall({ app }, apiKey, 'POST', '/reservations', { end_user_id: u, amount: amountOf(c), ttl_seconds: c.ttl }, `${u}|${c.key}`)
          const a = answer(r, res, `reserve ${c.key}`)
          if (res.statusCode === 201) {
            const body = res.json<{ id: string, expires_at: string }>()
            r.reservations.set(c.n, body.id)
            if (c.ttl === 1 && a.replayed !== true) r.deadlines.push(ms(body.expires_at))
          }
          r.answers.push(a)
          return
        }
        case 'commit':
        case 'release': {
          const id = r.reservations.get(c.of.n)
          if (!id) { r.answers.push({ status: 0, code: 'no reservation' }); return }
          const amount = c.c === 'commit' && c.part !== null ? Math.floor((amountOf(c.of) * c.part) / 100) : null
          const res = await creditsCall({ app }, apiKey, 'POST', `/reservations/${id}/${c.c}`, amount !== null ? { amount } : undefined)
          const a = answer(r, res, null)
          if (c.c === 'commit' && res.statusCode === 200) {
            if (r.committed.has(id)) throw new Error(`${u}: reservation ${id} committed twice`)
            r.committed.set(id, a.committed ?? -1)
          }
          r.answers.push(a)
          return
        }
        case 'adjust': {
          const res = await creditsCall({ app }, apiKey, 'POST', '/adjustments', { end_user_id: u, amount: c.amount, bucket: c.bucket, reason: 'by hand' }, `${u}|${c.key}`)
          r.answers.push(answer(r, res, null))
          return
        }
        case 'tick':
        case 'sweep':
          return
      }
    }

    // Shuffling and duplication drawn from the seed (a small LCG, so a failure replays from its seed).
    let x = h.seed >>> 0
    const random = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32 }
    const shuffle = <T>(items: T[]): T[] => {
      for (let i = items.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1))
        ;[items[i], items[j]] = [items[j] as T, items[i] as T]
      }
      return items
    }
    const delivered: Event[] = []
    const redeliveries = () => delivered.filter(() => random() < 0.15)
    const windows: Array<[number, number]> = []
    /** Waits until every deadline of the history has passed. */
    const tick = async () => {
      const due = deadlines().filter((d) => d >= Date.now() - SLACK_MS)
      if (due.length === 0) return
      counts.ticks++
      const until = Math.max(...due) + 2 * SLACK_MS
      while (Date.now() < until) await new Promise((resolve) => setTimeout(resolve, until - Date.now()))
    }

    for (const step of steps) {
      if (deadlines().some((d) => d > Date.now() - SLACK_MS && d < Date.now() + GUARD_MS)) await tick()
      if ('call' in step && step.call.c === 'tick') { await tick(); continue }
      const t0 = Date.now()
      if ('segment' in step) {
        for (const e of step.segment) await deliver(opOf(e, inOrder.user))
        const deliveries = shuffle([...step.segment.flatMap((e) => (random() < 0.3 ? [e, e] : [e])), ...redeliveries()])
        for (const e of deliveries) await deliver(opOf(e, shuffled.user))
        for (const e of deliveries.filter((e, i) => step.segment.includes(e) && deliveries.indexOf(e) === i)) await deliver(opOf(e, replayed.user))
        counts.deliveries += 2 * step.segment.length + deliveries.length
        delivered.push(...step.segment)
      } else if (step.call.c === 'sweep') {
        await sweep(app.db, 500)
      } else {
        const c = step.call
        if (c.c === 'reserve' && c.amount === 'all' && c.resolved === undefined) {
          const res = await creditsCall({ app }, apiKey, 'GET', `/balances/${inOrder.user}`)
          c.resolved = Math.max(1, res.json<Balance>().available)
        }
        for (const r of runs) await callOf(r, c)
        counts.calls += runs.length
      }
      windows.push([t0, Date.now()])
    }
    const rest = shuffle(redeliveries())
    for (const e of rest) await deliver(opOf(e, shuffled.user))
    counts.deliveries += rest.length
    await sweep(app.db, 500)

    const [a, b, c] = await Promise.all(runs.map((r) => stateOf(app, project.id, r.user)))
    if (!a || !b || !c) throw new Error('no state')
    const pairs: Array<[WalletState, Run]> = [[a, inOrder], [b, shuffled], [c, replayed]]
    const broken = pairs.flatMap(([s, r]) => brokenInvariants(s, r).map((m) => `${r.user}: ${m}`))
    if (broken.length > 0) throw new Error(`invariants broken:\n${broken.join('\n')}`)
    for (const r of runs) {
      const res = await creditsCall({ app }, apiKey, 'GET', `/balances/${r.user}`)
      const v = res.json<Balance>()
      if (res.statusCode !== 200 || v.total !== v.monthly + v.purchased + v.bonus || v.available !== Math.max(0, v.total - v.reserved - v.debt)) throw new Error(`${r.user}: balance view ${res.body}`)
    }
    if ([a, b, c].some((s) => s.ledger.some((e) => e.kind === 'debt'))) counts.debt++
    if ([a, b, c].some((s) => s.ledger.some((e) => e.kind === 'debt' && e.source?.startsWith('reservation:')))) counts.shortfalls++
    if ([a, b, c].some((s) => s.ledger.some((e) => e.kind === 'expire' && e.bucket === 'purchased'))) counts.expired++
    const ia = JSON.stringify(lotIdentities(a))
    for (const [name, s] of [['shuffled', b], ['replayed', c]] as const) {
      const is = JSON.stringify(lotIdentities(s))
      if (ia !== is) throw new Error(`the lots differ:\nin order ${ia}\n${name} ${is}`)
    }

    // A deadline within a step: the runs may have seen it on either side.
    if (deadlines().some((d) => windows.some(([s, e]) => d >= s - SLACK_MS && d <= e + SLACK_MS))) { counts.timing++; return }
    const ob = JSON.stringify(outcome(b, shuffled, 'lot'))
    const oc = JSON.stringify(outcome(c, replayed, 'lot'))
    if (ob !== oc) throw new Error(`duplicates changed something:\nreplayed ${oc}\nshuffled ${ob}`)
    const oa = JSON.stringify(outcome(a, inOrder, 'class'))
    const os = JSON.stringify(outcome(b, shuffled, 'class'))
    if (orderMatters(steps) && [a, b].some(tookFromOthers)) {
      counts.orderSensitive++
      if (oa !== os) counts.diverged++
      return
    }
    counts.exact++
    if (oa !== os) throw new Error(`diverged:\nin order ${oa}\nshuffled ${os}`)
  }), {
    numRuns: RUNS,
    // By default within tap's 120 s per file, so that a failure's shrinking ends with its smallest
    // history so far rather than a timeout (runs not made by then are left out; the summary counts
    // those made). CREDITS_PROPERTY_RUNS makes every run (give tap a --timeout to match).
    ...(process.env.CREDITS_PROPERTY_RUNS ? {} : { interruptAfterTimeLimit: 90_000 }),
    // The histories that found the engine's bugs (migrations 0013, 0014, 0015, 0018, 0020), run first every time.
    examples: [
      // A commit after a refund took the reserved credits (0013).
      [{ actions: [{ t: 'purchase', credits: 100, paid: 1000, expiry: 'never' }, { t: 'reserve', amount: 'all', short: false, replay: null }, { t: 'refund', of: 0, share: 50 }, { t: 'commit', of: 0, part: null }], rollover: false, trialCredits: 10, seed: 1 }],
      // A commit of more than its reservation after another's TTL passed (0020).
      [{ actions: [{ t: 'purchase', credits: 400, paid: 1000, expiry: 'never' }, { t: 'reserve', amount: 100, short: false, replay: null }, { t: 'reserve', amount: 50, short: true, replay: null }, { t: 'tick' }, { t: 'commit', of: 1, part: 150 }, { t: 'consume', amount: 10, key: { kind: 'new' } }], rollover: false, trialCredits: 10, seed: 1 }],
      // A refund delivered before its purchase, which had expired already (0014).
      [{ actions: [{ t: 'purchase', credits: 1, paid: 1, expiry: 'past' }, { t: 'refund', of: 0, share: 1 }], rollover: false, trialCredits: 10, seed: -1019753936 }],
      // The subscription's end delivered before its invoices (0015).
      [{ actions: [{ t: 'invoice', quantity: 1 }, { t: 'invoice', quantity: 1 }, { t: 'close' }], rollover: false, trialCredits: 10, seed: 8 }],
      // A trial delivered after the first paid period (0018).
      [{ actions: [{ t: 'trial' }, { t: 'invoice', quantity: 1 }, { t: 'tick' }], rollover: false, trialCredits: 1, seed: -995597327 }],
      // The end delivered again after a monthly adjustment (0015).
      [{ actions: [{ t: 'invoice', quantity: 1 }, { t: 'close' }, { t: 'adjust', amount: 1, bucket: 'monthly', replay: null }, { t: 'purchase', credits: 1, paid: 1, expiry: 'never' }, { t: 'refund', of: 0, share: 1 }, { t: 'refund', of: 0, share: 1 }], rollover: false, trialCredits: 10, seed: -787484362 }],
    ],
  })

  const [stats] = await rows<{ outstanding: number | string, wallets: number | string }>(app, sql`select
      (select coalesce(sum(outstanding), 0) from stats_credits_current where project_id = ${project.id}) as outstanding,
      (select coalesce(sum(monthly + purchased + bonus), 0) from credit_wallets where project_id = ${project.id}) as wallets`)
  t.equal(num(stats?.outstanding), num(stats?.wallets), 'credits outstanding (stats) equal the wallets\' totals')
  t.ok(counts.exact >= counts.runs / 3, 'a third of the histories or more were compared in full with the in-order run')
  t.pass(`${counts.runs} histories in ${Math.round((Date.now() - started) / 1000)} s: ${counts.exact} equal the in-order run in full, ${counts.orderSensitive} order-sensitive by the rules (${counts.diverged} of them ended elsewhere), ` +
    `${counts.timing} with a deadline inside a step; ${counts.debt} with debt, ${counts.shortfalls} with a commit's shortfall, ${counts.expired} with expired purchases, ${counts.ticks} ticks, ${counts.deliveries} deliveries, ${counts.calls} API calls, statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
})
