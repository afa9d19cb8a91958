import { Type, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { HANDLED_EVENT_TYPES } from './registry.ts'

/**
 * What the handlers read from `data.object`, by the kind of object their event types carry. A
 * signed event whose object lacks it is refused with 400 before anything is recorded: retrying it
 * could never succeed, and a handler that met it would fail halfway with a TypeError. Stripe always
 * sends these fields; unknown fields are allowed, as Stripe adds some in every version.
 */
const id = Type.String({ minLength: 1, maxLength: 255 })
const expandable = Type.Union([Type.String(), Type.Object({ id: Type.String() })])

const KINDS: Record<string, TSchema> = {
  'checkout.session': Type.Object({ object: Type.Literal('checkout.session'), id, mode: Type.String() }),
  'customer.subscription': Type.Object({
    object: Type.Literal('subscription'), id, status: Type.String(), customer: expandable, created: Type.Integer(),
    items: Type.Object({ data: Type.Array(Type.Object({})) }),
  }),
  invoice: Type.Object({ object: Type.Literal('invoice'), id, total: Type.Integer(), currency: Type.String() }),
  payment_intent: Type.Object({ object: Type.Literal('payment_intent'), id, amount: Type.Integer(), currency: Type.String() }),
  charge: Type.Object({ object: Type.Literal('charge'), id, amount: Type.Integer(), amount_refunded: Type.Integer(), currency: Type.String() }),
}
const checks = new Map<string, TypeCheck<TSchema>>(Object.entries(KINDS).map(([kind, schema]) => [kind, TypeCompiler.Compile(schema)]))

/** The kind of object an event type carries: its type without the last part (`invoice.paid` → `invoice`). */
const kindOf = (type: string): string => type.slice(0, Math.max(0, type.lastIndexOf('.')))

const handled = new Set<string>(HANDLED_EVENT_TYPES)

/**
 * Why a handled event's object cannot be applied (the first missing or mistyped field), or null.
 * Names fields, never values. Types no handler applies are recorded as ignored, whatever they carry
 * (an upcoming invoice has no id, and Stripe must not retry it for days).
 */
export function eventObjectProblem (type: string, object: unknown): string | null {
  if (!handled.has(type)) return null
  const check = checks.get(kindOf(type))
  if (!check || check.Check(object)) return null
  const first = check.Errors(object).First()
  return `The ${type} event's object is not a Stripe ${kindOf(type)}${first ? ` (${first.path || '/'}: ${first.message})` : ''}`
}
