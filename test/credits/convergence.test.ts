import t from 'tap'
import fc from 'fast-check'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { creditEffects } from '../../src/modules/credits/effects.ts'
import { closeMonthlyOp, type CreditOp } from '../../src/modules/credits/model.ts'
import { applyJob } from '../../src/webhooks/pipeline/apply.ts'
import { buildTestApp, createProject, newDeveloper, TEST_DATABASE_URL } from '../helpers/app.ts'
import { walletConsistency } from '../helpers/credits.ts'

/**
 * Events arrive late, twice and out of order. For random histories of purchases, cumulative refunds
 * (some before their purchase) and plan periods, written through the pipeline as the webhook batch
 * writes them, the wallet delivered shuffled and duplicated ends exactly where the wallet delivered in
 * order ends: the same lots (remaining, taken back), the same balances, no debt, and a ledger that
 * adds up. Runs: CREDITS_PROPERTY_RUNS (default 40 on PostgreSQL, 15 on the embedded database).
 */
const RUNS = Number(process.env.CREDITS_PROPERTY_RUNS ?? (TEST_DATABASE_URL ? 40 : 15))

const purchase = fc.record({ credits: fc.integer({ min: 1, max: 5000 }), paid: fc.integer({ min: 1, max: 9999 }), refunds: fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 2 }) })
const history = fc.record({
  purchases: fc.array(purchase, { minLength: 1, maxLength: 5 }),
  periods: fc.array(fc.integer({ min: 1, max: 500 }), { maxLength: 4 }),
  rollover: fc.boolean(),
  seed: fc.integer(),
})

t.test('shuffled and duplicated delivery converges to the in-order wallet', async (t) => {
  const app = await buildTestApp(t)
  const dev = newDeveloper()
  const project = await createProject(app, dev)
  const owner = { project: project.id, mode: 'test' as const }
  let run = 0

  const apply = async (ops: CreditOp[]) => {
    for (const op of ops) {
      await applyJob(app.db, { record: null, effects: creditEffects(op) }, { slot: 0 })
    }
  }
  const state = async (endUser: string) => ({
    wallet: await queryRows(app.db, sql`select monthly, purchased, bonus, reserved, debt from credit_wallets where project_id = ${project.id} and end_user_id = ${endUser}`),
    lots: await queryRows(app.db, sql`select split_part(l.source, '|', 2) as source, l.bucket, l.granted, l.remaining, l.taken_back from credit_lots l
      join credit_wallets w on w.id = l.wallet_id where w.project_id = ${project.id} and w.end_user_id = ${endUser} order by 1`),
  })

  await fc.assert(fc.asyncProperty(history, async (h) => {
    run++
    await app.db.execute(sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, rollover, currency, interval)
      values (${project.id}, 'test', ${`price_run${run}`}, 'prod_x', 1, ${h.rollover}, 'usd', 'month')`)
    const histories = (user: string): CreditOp[][] => {
      // Per purchase: its grant, then its refunds (cumulative amounts); per period: its paid invoice.
      const steps: CreditOp[][] = h.purchases.map((p, i) => {
        const pi = `pi_${user}_${i}`
        let refunded = 0
        const refunds = p.refunds.map((share) => {
          refunded = Math.min(p.paid, refunded + Math.floor((p.paid * share) / 100))
          return { op: 'refund' as const, ...owner, payment_intent: pi, refunded, paid: p.paid, description: 'refund' }
        }).filter((r) => r.refunded > 0)
        const grant: CreditOp = { op: 'purchase', ...owner, end_user: user, customer: null, amount: p.credits, source: `transaction:${user}|t${i}`, payment_intent: pi, paid: p.paid, expires_at: null, description: null }
        return [grant, ...refunds]
      })
      h.periods.forEach((quantity, i) => {
        steps.push([{
          op: 'plan_invoice', ...owner, end_user: user, customer: null, price: `price_run${run}`, quantity, source: `invoice:${user}|in${i}`,
          period_start: new Date(Date.UTC(2026, i, 1)).toISOString(), period_end: new Date(Date.UTC(2026, i + 1, 1)).toISOString(), payment_intent: null, paid: 100, subscription: `sub_${user}`,
        }])
      })
      return steps
    }
    const inOrder = `r${run}a`
    const shuffledUser = `r${run}b`
    await apply(histories(inOrder).flat())

    // The same history, every operation delivered once or twice, in an order drawn from the seed.
    let x = h.seed >>> 0
    const random = () => { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; return x / 2 ** 32 }
    const deliveries = histories(shuffledUser).flat().flatMap((op) => (random() < 0.3 ? [op, op] : [op]))
    for (let i = deliveries.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1))
      ;[deliveries[i], deliveries[j]] = [deliveries[j] as CreditOp, deliveries[i] as CreditOp]
    }
    await apply(deliveries)

    const a = await state(inOrder)
    const b = await state(shuffledUser)
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`diverged:\nin order ${JSON.stringify(a)}\nshuffled ${JSON.stringify(b)}`)
    // The in-order result is what the rules say: each purchase keeps what its refunds did not take; only the newest period stays, unless it rolls over.
    const purchased = h.purchases.reduce((n, p) => {
      let refunded = 0
      for (const share of p.refunds) refunded = Math.min(p.paid, refunded + Math.floor((p.paid * share) / 100))
      return n + p.credits - Math.floor((p.credits * refunded) / p.paid)
    }, 0)
    const monthly = h.rollover ? h.periods.reduce((n, q) => n + q, 0) : (h.periods.at(-1) ?? 0)
    const wallet = a.wallet[0] as { monthly: number | string, purchased: number | string, debt: number | string } | undefined
    if (Number(wallet?.purchased) !== purchased || Number(wallet?.monthly) !== monthly || Number(wallet?.debt) !== 0) {
      throw new Error(`expected purchased ${purchased}, monthly ${monthly}, no debt; got ${JSON.stringify(wallet)}`)
    }
  }), { numRuns: RUNS })
  t.same(await walletConsistency({ app }, project.id), [], 'every wallet equals its ledger and its lots')
  t.pass(`${run} histories converged`)
})

t.test('a subscription\'s end and its grants in either order: the end user keeps no credits of the ended subscription, and the end applies once', async (t) => {
  const app = await buildTestApp(t)
  const project = await createProject(app, newDeveloper())
  const owner = { project: project.id, mode: 'test' as const }
  await app.db.execute(sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, trial_credits, rollover, currency, interval)
    values (${project.id}, 'test', 'price_end', 'prod_x', 100, 10, false, 'usd', 'month')`)
  const apply = async (...ops: Array<CreditOp | null>) => {
    for (const op of ops) await applyJob(app.db, { record: null, effects: creditEffects(op) }, { slot: 0 })
  }
  const who = (user: string) => ({ end_user: user, customer: null })
  const period = (month: number) => ({ period_start: new Date(Date.UTC(2026, month, 1)).toISOString(), period_end: new Date(Date.UTC(2026, month + 1, 1)).toISOString() })
  const invoice = (user: string, sub: string, month = 3): CreditOp => ({ op: 'plan_invoice', ...owner, ...who(user), price: 'price_end', quantity: 1, source: `invoice:in_${user}_${sub}`, ...period(month), payment_intent: null, paid: 2000, subscription: sub })
  const trial = (user: string, sub: string): CreditOp => ({ op: 'trial', ...owner, ...who(user), price: 'price_end', quantity: 1, source: `trial:${sub}`, ...period(2), subscription: sub })
  const state = async (user: string) => queryRows(app.db, sql`select w.monthly::int as monthly, to_char(w.next_reset_at at time zone 'UTC', 'YYYY-MM-DD') as next_reset_at, (select coalesce(json_agg(json_build_array(l.granted, l.remaining) order by l.granted), '[]') from credit_lots l where l.wallet_id = w.id) as lots
    from credit_wallets w where w.project_id = ${project.id} and w.end_user_id = ${user}`)

  await apply(trial('in-order', 'sub_1'), invoice('in-order', 'sub_1'), closeMonthlyOp(owner, who('in-order'), 'sub_1'))
  await apply(closeMonthlyOp(owner, who('end-first'), 'sub_2'), invoice('end-first', 'sub_2'), trial('end-first', 'sub_2'), invoice('end-first', 'sub_2'))
  const inOrder = await state('in-order')
  t.match(inOrder, [{ monthly: 0, next_reset_at: null }])
  t.same(await state('end-first'), inOrder, 'the grants delivered after the end expire at once')
  const ledger = await queryRows<{ kind: string, amount: number | string, source: string }>(app.db, sql`select l.kind, l.amount, l.source from credit_ledger l
    join credit_wallets w on w.id = l.wallet_id where w.project_id = ${project.id} and w.end_user_id = 'end-first' order by l.seq`)
  t.same(ledger.map((e) => [e.kind, Number(e.amount), e.source]), [
    // The late trial is an older period than the paid one: reset at once (as the paid invoice reset it in order), before the end could expire it.
    ['grant', 100, 'invoice:in_end-first_sub_2'], ['expire', -100, 'subscription:sub_2'], ['grant', 10, 'trial:sub_2'], ['reset', -10, 'trial:sub_2'],
  ])
  // The end is the subscription's: a new subscription of the same end user grants as usual.
  await apply(invoice('end-first', 'sub_3', 4), closeMonthlyOp(owner, who('end-first'), 'sub_2'))
  t.match(await state('end-first'), [{ monthly: 100, next_reset_at: '2026-06-01' }], 'and the old end delivered again expires nothing granted since')
  t.same(await walletConsistency({ app }, project.id), [])
})

t.test('a trial delivered after a later paid period of a plan that resets is reset at once, as the paid invoice reset it in order', async (t) => {
  const app = await buildTestApp(t)
  const project = await createProject(app, newDeveloper())
  const owner = { project: project.id, mode: 'test' as const }
  await app.db.execute(sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, trial_credits, rollover, currency, interval)
    values (${project.id}, 'test', 'price_trial', 'prod_x', 100, 10, false, 'usd', 'month')`)
  const apply = async (...ops: CreditOp[]) => {
    for (const op of ops) await applyJob(app.db, { record: null, effects: creditEffects(op) }, { slot: 0 })
  }
  const at = (month: number) => ({ period_start: new Date(Date.UTC(2026, month, 1)).toISOString(), period_end: new Date(Date.UTC(2026, month + 1, 1)).toISOString() })
  const trial = (user: string): CreditOp => ({ op: 'trial', ...owner, end_user: user, customer: null, price: 'price_trial', quantity: 1, source: `trial:sub_${user}`, ...at(2), subscription: `sub_${user}` })
  const paid = (user: string): CreditOp => ({ op: 'plan_invoice', ...owner, end_user: user, customer: null, price: 'price_trial', quantity: 1, source: `invoice:in_${user}`, ...at(3), payment_intent: null, paid: 2000, subscription: `sub_${user}` })
  await apply(trial('a'), paid('a'))
  await apply(paid('b'), trial('b'), trial('b'))
  const monthly = async (user: string) => (await queryRows<{ m: number }>(app.db, sql`select monthly::int as m from credit_wallets where project_id = ${project.id} and end_user_id = ${user}`))[0]?.m
  t.equal(await monthly('a'), 100, 'in order: the trial reset by the first paid period')
  t.equal(await monthly('b'), 100, 'trial last: reset at once')
  t.same(await walletConsistency({ app }, project.id), [])
})
