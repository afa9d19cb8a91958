import { join, q, raw, type Fragment } from './statement.ts'
import type { Mode } from '../stripe/client.ts'

/**
 * An effect is what one event (or one request) means for one domain: the keys it locks, the rows it
 * reads, a pure plan from those rows, and the writes that plan makes. Domains define kinds of reads
 * and writes (the SQL, once); the pipeline that runs effects knows only these shapes: it reads the
 * reads of many effects in one statement, plans each, and writes every plan of the batch in one
 * statement that is all or nothing. A single effect is a batch of one through the same code.
 */

/** Who an effect is for, and when its cause happened (a Stripe event's `created`, or a request's start). */
export interface EffectScope {
  project: { id: string, developerId: string }
  mode: Mode
  event: { id: string, created: number }
}

/** What a plan may know of the batch it runs in: `slot` is the running batch's number, stable while it writes. */
export interface PlanContext { slot: number }

/** One argument of a read: each request's value travels in one array parameter of this SQL type. */
export interface ReadInput<I> {
  name: string
  type: 'text' | 'uuid' | 'int' | 'bigint'
  pick (input: I): string | number | null | undefined
}

/**
 * A kind of read. `select` is one scalar SQL expression per request (`arg(name)` is one of its
 * inputs); `parse` turns what the driver returns into what a plan reads. Every kind is part of every
 * read statement, so the statement's text never depends on what a batch holds.
 */
export interface ReadKind<I, O> {
  name: string
  inputs: ReadonlyArray<ReadInput<I>>
  select (arg: (name: string) => Fragment): Fragment
  parse (value: unknown): O
}

/**
 * A kind of write: the CTEs that write every item of a batch (their text the same for any number of
 * items), each running only when `gate` holds. It may hand the kinds after it a stricter gate.
 */
export interface WriteKind<W> {
  name: string
  ctes (items: readonly W[], gate: Fragment): { ctes: Array<[string, Fragment]>, gate?: Fragment }
}

export interface Read<O> { kind: ReadKind<unknown, O>, input: unknown }
export interface Write { kind: WriteKind<unknown>, value: unknown }

export const read = <I, O>(kind: ReadKind<I, O>, input: I): Read<O> => ({ kind: kind as ReadKind<unknown, O>, input })
export const write = <W>(kind: WriteKind<W>, value: W): Write => ({ kind: kind as WriteKind<unknown>, value })

/** A row a plan was computed from: the write goes on only if it is still this version (xmin). */
export interface Guard { table: string, id: string, version: string }

export interface Plan { guards: Guard[], writes: Write[] }

export interface Effect {
  /** Effects that share a key never run in the same batch, nor in two batches at once on one instance. */
  lockKeys: readonly string[]
  reads: ReadonlyArray<Read<unknown>>
  /** Pure: from the reads' results, what to write (null: nothing). May throw RefetchRequired. */
  plan (results: readonly unknown[], ctx: PlanContext): Plan | null
}

type Results<R> = { -readonly [K in keyof R]: R[K] extends Read<infer O> ? O : never }

/** An effect whose plan gets its reads' results typed, in the order of `reads`. */
export function effect<const R extends ReadonlyArray<Read<unknown>>> (spec: {
  lockKeys: readonly string[]
  reads: R
  plan (results: Results<R>, ctx: PlanContext): Plan | null
}): Effect {
  return { lockKeys: spec.lockKeys, reads: spec.reads, plan: (results, ctx) => spec.plan(results as Results<R>, ctx) }
}

/** An effect that reads nothing and always writes. */
export const writeOnly = (lockKeys: readonly string[], ...writes: Write[]): Effect =>
  ({ lockKeys, reads: [], plan: () => ({ guards: [], writes }) })

/** Thrown by a plan when the payload cannot decide (a same-second tie): nothing is written; re-read from Stripe, run again. */
export class RefetchRequired extends Error {
  constructor (what: string) {
    super(`${what}: the payload cannot decide; re-reading it from Stripe`)
    this.name = 'RefetchRequired'
  }
}

/** Every kind the statements know, in a fixed order: reads, writes (in the order they run), and the tables guards lock. */
export interface EffectKinds {
  reads: ReadonlyArray<ReadKind<unknown, unknown>>
  writes: ReadonlyArray<WriteKind<unknown>>
  guarded: readonly string[]
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/

/**
 * One statement for every read of a batch: one row per request, `i` its position. Each kind's
 * expression runs only for its own requests (a CASE evaluates only the branch taken), and only the
 * kinds the batch uses are in the statement: its text depends only on which kinds those are (a small,
 * bounded set of texts, each prepared once per connection; the embedded database, which cannot keep
 * a prepared statement, plans a smaller statement).
 */
export function readStatement (kinds: EffectKinds, requests: ReadonlyArray<Read<unknown>>): Fragment {
  const index = new Map(kinds.reads.map((k, i) => [k, i]))
  const kindOf = requests.map((r) => {
    const i = index.get(r.kind)
    if (i === undefined) throw new Error(`read kind ${r.kind.name} is not registered`)
    return i
  })
  const used = new Set(kindOf)
  const columns: string[] = ['i', 'kind']
  const arrays: Fragment[] = [q`${requests.map((_, i) => i)}::int[]`, q`${kindOf}::int[]`]
  const selects: Fragment[] = []
  kinds.reads.forEach((kind, k) => {
    if (!used.has(k)) return
    for (const input of kind.inputs) {
      columns.push(`r${k}_${input.name}`)
      arrays.push(q`${requests.map((r, i) => (kindOf[i] === k ? input.pick(r.input) ?? null : null))}::${raw(input.type)}[]`)
    }
    const arg = (name: string): Fragment => {
      if (!kind.inputs.some((input) => input.name === name)) throw new Error(`read kind ${kind.name} has no input ${name}`)
      return raw(`k.r${k}_${name}`)
    }
    selects.push(q`case k.kind when ${raw(String(k))} then (${kind.select(arg)}) end as r${raw(String(k))}`)
  })
  return q`select k.i, ${join(selects, ', ')} from unnest(${join(arrays, ', ')}) as k(${raw(columns.join(', '))})`
}

/** The statement's rows, parsed by each request's kind, in the order of `requests`. */
export function parseReads (kinds: EffectKinds, requests: ReadonlyArray<Read<unknown>>, rows: ReadonlyArray<Record<string, unknown>>): unknown[] {
  const index = new Map(kinds.reads.map((k, i) => [k, i]))
  const byPosition = new Map(rows.map((r) => [Number(r.i), r]))
  return requests.map((r, i) => r.kind.parse(byPosition.get(i)?.[`r${index.get(r.kind) ?? -1}`] ?? null))
}

/**
 * One statement for every write of a batch, all or nothing. It first locks every guarded row (table
 * by table in the order given, each by id) and raises serialization_failure (40001) unless each is
 * still the version read; then every kind that has items writes them, in the kinds' order, each
 * behind the gate the kinds before it left. Kinds that lock rows of their own (stats) sort them the
 * same way everywhere, so two batches never wait on each other in opposite orders. As for reads, the
 * text depends only on which tables and kinds the batch uses.
 */
export function writeStatement (kinds: EffectKinds, guards: readonly Guard[], writes: readonly Write[]): Fragment {
  const ctes: Array<[string, Fragment]> = []
  const checks: Fragment[] = []
  for (const table of kinds.guarded) {
    if (!IDENTIFIER.test(table)) throw new Error(`not a table name: ${table}`)
    const rows = guards.filter((g) => g.table === table).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    if (rows.length === 0) continue
    const ids = rows.map((g) => g.id)
    ctes.push([`locked_${table}`, q`select id, xmin::text as v from ${raw(table)} where id = any(${ids}::uuid[]) order by id for update`])
    checks.push(q`(select count(*) from locked_${raw(table)} l join unnest(${ids}::uuid[], ${rows.map((g) => g.version)}::text[]) as e(id, v) on e.id = l.id and e.v = l.v) = ${rows.length}::int`)
  }
  for (const g of guards) if (!kinds.guarded.includes(g.table)) throw new Error(`table ${g.table} is not guarded`)
  ctes.push(['guard', q`select webhook_write_conflict_unless(${checks.length > 0 ? join(checks, ' and ') : raw('true')}, 'a row changed since it was read') as ok`])
  let gate: Fragment = raw('(select ok from guard)')
  for (const kind of kinds.writes) {
    const items = writes.filter((w) => w.kind === kind).map((w) => w.value)
    if (items.length === 0) continue
    const out = kind.ctes(items, gate)
    ctes.push(...out.ctes)
    if (out.gate) gate = out.gate
  }
  for (const w of writes) if (!kinds.writes.includes(w.kind)) throw new Error(`write kind ${w.kind.name} is not registered`)
  return q`with ${join(ctes.map(([name, body]) => q`${raw(name)} as (${body})`), ', ')} select ${gate} as ok`
}

/** A stable slot for a key (FNV-1a): where a write outside a batch goes, e.g. an event's own stats shard. */
export function slotOf (key: string, slots: number): number {
  let h = 2166136261
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 16777619)
  }
  return (h >>> 0) % slots
}
