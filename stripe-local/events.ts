import type { Delivery } from './delivery.ts'
import { newId } from './ids.ts'
import { snapshot, type JsonObject } from './json.ts'
import { render, type RenderCtx } from './objects/index.ts'
import { accountNow, type Account, type EventRec, type Mode, type Rec } from './store.ts'

/** `request` of an event: the API call that caused it, or nulls for automatic events. */
export interface RequestInfo { id: string | null; idempotency_key: string | null }
export const AUTOMATIC: RequestInfo = { id: null, idempotency_key: null }

/** Everything an operation needs: the mode's objects, a fixed `now`, and a way to emit events. */
export interface OpCtx extends RenderCtx {
  mode: Mode
  now: number
  request: RequestInfo
  emit (type: string, rec: Rec, previous?: JsonObject): EventRec
  /** Ids of this account's events whose delivery to an endpoint failed or is pending. */
  undelivered (): Set<string>
}

export function matches (enabled: string[], type: string): boolean {
  return enabled.includes('*') || enabled.includes(type)
}

export function createOpCtx (delivery: Delivery, baseUrl: string, account: Account, mode: Mode, request: RequestInfo): OpCtx {
  const st = account.modes[mode]
  const ctx: OpCtx = {
    account,
    st,
    baseUrl,
    mode,
    now: accountNow(account),
    request,
    undelivered: () => delivery.undelivered(account.id),
    emit (type, rec, previous) {
      const endpoints = st.all('webhook_endpoint').reverse()
        .filter(w => w.status === 'enabled' && matches(w.enabledEvents, type))
      const data: JsonObject = { object: snapshot(render(rec, ctx)) }
      if (previous) data.previous_attributes = snapshot(previous)
      const event = st.put<EventRec>({
        kind: 'event',
        id: newId('evt'),
        created: ctx.now,
        livemode: st.livemode,
        type,
        data,
        request: { ...ctx.request },
        pendingWebhooks: endpoints.length,
      })
      delivery.enqueue(account, event, endpoints)
      return event
    },
  }
  return ctx
}
