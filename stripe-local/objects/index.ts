import Stripe from 'stripe'
import { invalidParam } from '../errors.ts'
import { isObject, type Json, type JsonObject } from '../json.ts'
import type { Rec } from '../store.ts'
import { renderInvoice, renderInvoicePayments, renderSubscription } from './billing.ts'
import { renderPrice, renderProduct } from './catalog.ts'
import { renderCheckoutItem, renderCheckoutSession } from './checkout.ts'
import type { RenderCtx } from './context.ts'
import { renderCustomer } from './customer.ts'
import { renderEvent, renderPortalSession, renderWebhookEndpoint } from './misc.ts'
import { renderCharge, renderChargeRefunds, renderPaymentIntent, renderPaymentMethod, renderRefund } from './payments.ts'

export type { RenderCtx } from './context.ts'

/** The version the installed SDK pins; events use it unless an endpoint asked for another. */
export const API_VERSION: string = Stripe.API_VERSION

export function render (rec: Rec, ctx: RenderCtx): JsonObject {
  switch (rec.kind) {
    case 'customer': return renderCustomer(rec)
    case 'product': return renderProduct(rec)
    case 'price': return renderPrice(rec)
    case 'checkout.session': return renderCheckoutSession(rec, ctx)
    case 'subscription': return renderSubscription(rec, ctx)
    case 'invoice': return renderInvoice(rec, ctx)
    case 'payment_intent': return renderPaymentIntent(rec, ctx)
    case 'charge': return renderCharge(rec, ctx)
    case 'refund': return renderRefund(rec)
    case 'payment_method': return renderPaymentMethod(rec)
    case 'webhook_endpoint': return renderWebhookEndpoint(rec)
    case 'billing_portal.session': return renderPortalSession(rec, ctx)
    case 'event': return renderEvent(rec, API_VERSION)
  }
}

/** Fields Stripe leaves out unless expanded (they are not ids that could be swapped for objects). */
const INCLUDABLE: Record<string, Record<string, (id: string, ctx: RenderCtx) => Json>> = {
  'checkout.session': {
    line_items: (id, ctx) => {
      const s = ctx.st.get('checkout.session', id)
      const data = s ? s.lines.map(l => renderCheckoutItem(l, ctx)) : []
      return { object: 'list', data, has_more: false, url: `/v1/checkout/sessions/${id}/line_items` }
    },
  },
  invoice: { payments: (id, ctx) => { const inv = ctx.st.get('invoice', id); return inv ? renderInvoicePayments(inv) : null } },
  charge: { refunds: (id, ctx) => { const ch = ctx.st.get('charge', id); return ch ? renderChargeRefunds(ch, ctx) : null } },
}

function expandPath (value: Json, path: string[], full: string, ctx: RenderCtx): Json {
  const [head, ...rest] = path
  if (head === undefined || value === null) return value
  if (Array.isArray(value)) return value.map(v => expandPath(v, path, full, ctx))
  if (!isObject(value)) throw invalidParam('expand', `This property cannot be expanded (${full}).`)
  const kind = typeof value.object === 'string' ? value.object : ''
  const id = typeof value.id === 'string' ? value.id : ''
  const include = INCLUDABLE[kind]?.[head]
  let child: Json | undefined = value[head]
  if (include && child === undefined) child = include(id, ctx)
  if (child === undefined) throw invalidParam('expand', `This property cannot be expanded (${full}).`)
  if (typeof child === 'string') {
    const rec = ctx.st.objects.get(child)
    if (!rec) throw invalidParam('expand', `This property cannot be expanded (${full}).`)
    child = render(rec, ctx)
  }
  value[head] = expandPath(child, rest, full, ctx)
  return value
}

/** Applies `expand[]` paths such as `latest_invoice.payments` or `data.customer`, in place. */
export function expand (obj: JsonObject, paths: string[], ctx: RenderCtx): JsonObject {
  for (const path of paths) {
    const parts = path.split('.')
    if (parts.length > 4) throw invalidParam('expand', `You cannot expand more than 4 levels of a property. Property: ${path}`)
    expandPath(obj, parts, path, ctx)
  }
  return obj
}
