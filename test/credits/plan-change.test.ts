import t from 'tap'
import { sql } from 'drizzle-orm'
import { queryRows } from '../../src/platform/db/client.ts'
import { creditEffects } from '../../src/modules/credits/effects.ts'
import { planChangeOp, planInvoiceOp, type CreditOp } from '../../src/modules/credits/model.ts'
import { applyJob } from '../../src/webhooks/pipeline/apply.ts'
import type Stripe from 'stripe'
import { buildTestApp, createProject, newDeveloper } from '../helpers/app.ts'
import { walletConsistency } from '../helpers/credits.ts'

// A change of plan and the period's paid invoice name one period: whichever arrives first, the period
// ends holding the larger plan's credits once. The ops are built from Stripe-shaped objects by the
// model's own functions and written through the pipeline, as the webhook batch writes them.

const START = Date.UTC(2026, 10, 1) / 1000
const END = Date.UTC(2026, 11, 1) / 1000

const invoice = (id: string, price: string, quantity = 1, proration = false) => ({
  id, total: 2000, lines: { data: [{ pricing: { price_details: { price } }, quantity, period: { start: START, end: END }, parent: { subscription_item_details: { proration } } }] },
}) as unknown as Stripe.Invoice

const subscription = (price: string, quantity = 1, status = 'active', id = 'sub_a') => ({
  id, status, items: { data: [{ price: { id: price }, quantity, current_period_start: START, current_period_end: END }] },
}) as unknown as Stripe.Subscription

t.test('an upgrade and its period\'s invoice in either order; a downgrade, a renewal\'s update and a proration line grant nothing', async (t) => {
  const app = await buildTestApp(t)
  const project = await createProject(app, newDeveloper())
  const owner = { project: project.id, mode: 'test' as const }
  for (const [price, credits] of [['price_small', 100], ['price_big', 300]] as const) {
    await app.db.execute(sql`insert into credit_plans (project_id, mode, price_id, product_id, credits_per_period, currency, interval)
      values (${project.id}, 'test', ${price}, 'prod_x', ${credits}, 'usd', 'month')`)
  }
  const apply = async (...ops: Array<CreditOp | null>) => {
    for (const op of ops) {
      t.ok(op, 'an operation')
      await applyJob(app.db, { record: null, effects: creditEffects(op) }, { slot: 0 })
    }
  }
  const monthly = async (user: string) => Number((await queryRows<{ m: string }>(app.db, sql`select monthly as m from credit_wallets where project_id = ${project.id} and end_user_id = ${user}`))[0]?.m)
  const who = (user: string) => ({ end_user: user, customer: null })
  const upgrade = (user: string) => planChangeOp(owner, who(user), subscription('price_big', 1, 'active', `sub_${user}`), { items: { data: [{ price: { id: 'price_small' }, quantity: 1 }] } })
  const paid = (user: string) => planInvoiceOp(owner, who(user), invoice(`in_${user}`, 'price_small'), null, `sub_${user}`)

  await apply(paid('a'), upgrade('a'), upgrade('a'), paid('a'))
  t.equal(await monthly('a'), 300, 'invoice, then upgrade: 100 + the difference 200, once')
  await apply(upgrade('b'), paid('b'), paid('b'))
  t.equal(await monthly('b'), 300, 'upgrade first: the period holds 300 and the invoice tops up nothing')

  const down = planChangeOp(owner, who('a'), subscription('price_small'), { items: { data: [{ price: { id: 'price_big' }, quantity: 1 }] } })
  await apply(down)
  t.equal(await monthly('a'), 300, 'a downgrade grants and takes nothing')
  await apply(planChangeOp(owner, who('a'), subscription('price_big', 2), { items: { data: [{ price: { id: 'price_big' }, quantity: 1 }] } }))
  t.equal(await monthly('a'), 600, 'a quantity change tops up to credits × quantity')

  t.equal(planChangeOp(owner, who('a'), subscription('price_big'), { items: { data: [{ price: { id: 'price_big' }, quantity: 1 }] }, latest_invoice: 'in_x' }), null, 'a renewal\'s update (same price and quantity) is no plan change')
  t.equal(planChangeOp(owner, who('a'), subscription('price_big', 1, 'trialing'), { items: { data: [{ price: { id: 'price_small' } }] } }), null, 'a trialing subscription keeps its trial credits')
  t.match(planChangeOp(owner, who('a'), subscription('price_big'), { plan: { id: 'price_small' } }), { op: 'plan_invoice', price: 'price_big' }, 'a legacy payload\'s previous plan')
  t.equal(planInvoiceOp(owner, who('a'), invoice('in_p', 'price_big', 1, true), null, 'sub_a'), null, 'an invoice of proration lines only is no period of a plan')
  t.same(await walletConsistency({ app }, project.id), [])
})
