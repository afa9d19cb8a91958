import type { Account, Kind, ModeState, RecOf } from '../store.ts'

/** What a renderer may look at: the mode's objects and the server's own URL. */
export interface RenderCtx { account: Account; st: ModeState; baseUrl: string }

export function need<K extends Kind> (ctx: RenderCtx, kind: K, id: string): RecOf<K> {
  const rec = ctx.st.get(kind, id)
  if (!rec) throw new Error(`stripe-local: dangling ${kind} reference ${id}`)
  return rec
}

export const emptyAddress = () => ({ city: null, country: null, line1: null, line2: null, postal_code: null, state: null })
