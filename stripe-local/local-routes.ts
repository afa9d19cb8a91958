import type { Delivery } from './delivery.ts'
import { invalidParam, missingParam, noSuch, StripeError } from './errors.ts'
import { AUTOMATIC, createOpCtx } from './events.ts'
import type { Reader } from './form.ts'
import type { JsonObject } from './json.ts'
import { advanceClock, completeCheckout, pauseSubscription, renewSubscription } from './lifecycle.ts'
import { render } from './objects/index.ts'
import type { Reply } from './server.ts'
import { accountNow, accountView, type Account, type DeliveryOptions, type Kind, type Mode, type RecOf, type Store } from './store.ts'

export interface LocalDeps { store: Store; delivery: Delivery; baseUrl: string }

const ok = (body: JsonObject | JsonObject[]): Reply => ({ status: 200, body: JSON.stringify(body, null, 2) })

/** The "dashboard" acts without a key, so objects are found across all accounts and modes. */
function locate<K extends Kind> (store: Store, kind: K, id: string): { account: Account; mode: Mode; rec: RecOf<K> } {
  for (const account of store.accounts.values()) {
    for (const mode of ['test', 'live'] as const) {
      const rec = account.modes[mode].get(kind, id)
      if (rec) return { account, mode, rec }
    }
  }
  throw noSuch(kind, id)
}

function accountOf (store: Store, id: string): Account {
  const account = store.accounts.get(id)
  if (!account) throw noSuch('account', id)
  return account
}

export function parseDeliveryOptions (p: Reader): Partial<DeliveryOptions> {
  const out: Partial<DeliveryOptions> = {}
  const duplicate = p.str('duplicate')
  if (duplicate !== undefined) {
    const value = duplicate === 'true' ? 1 : duplicate === 'false' ? 0 : Number(duplicate)
    if (!(value >= 0 && value <= 1)) throw invalidParam('duplicate', 'duplicate must be a probability between 0 and 1.')
    out.duplicate = value
  }
  const shuffle = p.bool('shuffle')
  if (shuffle !== undefined) out.shuffle = shuffle
  const delay = p.int('delay_ms', { min: 0 })
  if (delay !== undefined) out.delay_ms = delay
  return out
}

const page = (title: string, body: string): Reply => ({
  status: 200,
  contentType: 'text/html; charset=utf-8',
  body: `<!doctype html><meta charset="utf-8"><title>${title}</title><body style="font-family:system-ui;max-width:32rem;margin:3rem auto"><h1>${title}</h1>${body}</body>`,
})

const escape = (s: string): string => s.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

export async function handleLocal (deps: LocalDeps, method: string, path: string, p: Reader): Promise<Reply> {
  const { store, delivery, baseUrl } = deps
  const parts = path.split('/').slice(2).map(decodeURIComponent)
  const route = `${method} /${parts.map((s, i) => (i === 1 || i === 2) && /_/.test(s) ? ':id' : s).join('/')}`

  const [, first = '', second = ''] = parts
  switch (route) {
    case 'POST /accounts':
      return ok(accountView(store.createAccount()))
    case 'POST /accounts/:id/delivery-options': {
      const account = accountOf(store, first)
      Object.assign(account.delivery, parseDeliveryOptions(p))
      return ok({ account_id: account.id, ...account.delivery })
    }
    case 'POST /accounts/:id/rate-limit': {
      // The next `count` API requests of the account answer 429, as Stripe does past its rate limit.
      const account = accountOf(store, first)
      const count = p.int('count', { min: 0 })
      if (count === undefined) throw missingParam('count')
      account.rateLimit = { remaining: count, retryAfter: p.int('retry_after', { min: 0 }) ?? 1 }
      return ok({ account_id: account.id, ...account.rateLimit })
    }
    case 'POST /webhook_endpoints/:id/delivery': {
      // `enabled=false`: the endpoint is down; each delivery is dropped and counted as failed (delivery_success=false lists it).
      const { rec } = locate(store, 'webhook_endpoint', first)
      const enabled = p.bool('enabled')
      if (enabled === undefined) throw missingParam('enabled')
      rec.dropDeliveries = !enabled
      return ok({ id: rec.id, delivery_enabled: enabled })
    }
    case 'GET /accounts/:id/deliveries':
      return ok({ object: 'list', data: delivery.deliveries(accountOf(store, first).id).map(r => ({ ...r })) })
    case 'POST /accounts/:id/advance-clock': {
      const account = accountOf(store, first)
      const seconds = p.int('seconds', { min: 0 })
      if (seconds === undefined) throw missingParam('seconds')
      advanceClock(delivery, baseUrl, account, seconds)
      return ok({ account_id: account.id, now: accountNow(account), clock_offset: account.clockOffset })
    }
    case 'POST /idle':
      await delivery.idle()
      return ok({ idle: true })
    case 'POST /checkout/sessions/:id/complete':
    case 'POST /checkout/sessions/:id/fail': {
      const { account, mode, rec } = locate(store, 'checkout.session', second)
      const ctx = createOpCtx(delivery, baseUrl, account, mode, AUTOMATIC)
      const fail = parts[3] === 'fail'
      const method = fail ? 'pm_card_chargeDeclined' : p.str('payment_method') ?? 'pm_card_visa'
      completeCheckout(ctx, rec, { paymentMethod: method, email: p.str('email'), name: p.str('name') })
      return ok(render(rec, ctx))
    }
    case 'POST /subscriptions/:id/renew':
    case 'POST /subscriptions/:id/fail-payment': {
      const { account, mode, rec } = locate(store, 'subscription', first)
      const ctx = createOpCtx(delivery, baseUrl, account, mode, AUTOMATIC)
      renewSubscription(ctx, rec, parts[2] === 'fail-payment')
      return ok(render(rec, ctx))
    }
    case 'POST /subscriptions/:id/pause': {
      const { account, mode, rec } = locate(store, 'subscription', first)
      const ctx = createOpCtx(delivery, baseUrl, account, mode, AUTOMATIC)
      pauseSubscription(ctx, rec)
      return ok(render(rec, ctx))
    }
    case 'GET /checkout/pay/:id': {
      const { rec } = locate(store, 'checkout.session', second)
      const action = (what: string, label: string) => `<form method="post" action="/_local/checkout/sessions/${rec.id}/${what}"><button>${label}</button></form>`
      return page('Stripe local Checkout', `<p>Session <code>${escape(rec.id)}</code> (${rec.mode}, ${rec.status})</p>${rec.status === 'open' ? action('complete', 'Pay with 4242') + action('fail', 'Decline') : ''}`)
    }
    case 'GET /billing-portal/:id':
    case 'GET /invoices/:id':
    case 'GET /receipts/:id':
      return page('Stripe local', `<p><code>${escape(first)}</code></p>`)
  }
  throw new StripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`)
}
