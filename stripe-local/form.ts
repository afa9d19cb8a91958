import { invalidParam, missingParam } from './errors.ts'

/** A decoded bracket-notation value: `a[b][0]=x` becomes `{a: {b: ['x']}}`. */
export type Param = string | Param[] | Params
export interface Params { [key: string]: Param }

const UNSAFE = new Set(['__proto__', 'constructor', 'prototype'])

function splitKey (key: string): string[] {
  const open = key.indexOf('[')
  if (open <= 0) return [key]
  const rest = key.slice(open)
  const segments = [...rest.matchAll(/\[([^[\]]*)\]/g)].map(m => m[1] ?? '')
  // a key like `a[b` is not bracket notation: keep it whole
  if (segments.map(s => `[${s}]`).join('') !== rest) return [key]
  return [key.slice(0, open), ...segments]
}

function assign (target: Params, path: string[], value: string): void {
  let node = target
  for (let i = 0; i < path.length; i++) {
    let segment = path[i] ?? ''
    if (UNSAFE.has(segment)) return
    // `expand[]=a&expand[]=b`: an empty index appends
    if (segment === '') segment = String(Object.keys(node).length)
    if (i === path.length - 1) {
      node[segment] = value
      return
    }
    const next = node[segment]
    if (typeof next === 'object' && !Array.isArray(next)) node = next
    else node = node[segment] = {}
  }
}

/** Hashes whose keys are all indices become arrays, in index order. */
function arrays (value: Param): Param {
  if (typeof value === 'string' || Array.isArray(value)) return value
  const keys = Object.keys(value)
  for (const key of keys) value[key] = arrays(value[key] as Param)
  if (keys.length > 0 && keys.every(k => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map(k => value[k] as Param)
  }
  return value
}

/** Parses a form body or query string the way Stripe does (brackets encoded or not). */
export function parseForm (input: string): Params {
  const root: Params = {}
  for (const [key, value] of new URLSearchParams(input)) assign(root, splitKey(key), value)
  return arrays(root) as Params
}

type Unset = null

/**
 * Typed access to request parameters with Stripe's validation errors; `param` names in errors use
 * the wire form (`line_items[0][price]`). An empty string means "unset", as the SDK sends null.
 */
export class Reader {
  constructor (readonly params: Params, private readonly prefix = '') {}

  name (key: string): string {
    return this.prefix ? `${this.prefix}[${key}]` : key
  }

  has (key: string): boolean {
    return this.params[key] !== undefined
  }

  raw (key: string): Param | undefined {
    return this.params[key]
  }

  str (key: string): string | undefined {
    const v = this.params[key]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'string') throw invalidParam(this.name(key), `Invalid string: ${JSON.stringify(v)}`)
    return v
  }

  /** `undefined` = not sent, `null` = sent empty (unset). */
  nullableStr (key: string): string | Unset | undefined {
    return this.params[key] === '' ? null : this.str(key)
  }

  reqStr (key: string): string {
    const v = this.str(key)
    if (v === undefined) throw missingParam(this.name(key))
    return v
  }

  int (key: string, { min }: { min?: number } = {}): number | undefined {
    const v = this.str(key)
    if (v === undefined) return undefined
    if (!/^-?\d+$/.test(v)) throw invalidParam(this.name(key), `Invalid integer: ${v}`, 'parameter_invalid_integer')
    const n = Number(v)
    if (!Number.isSafeInteger(n)) throw invalidParam(this.name(key), `Invalid integer: ${v}`, 'parameter_invalid_integer')
    if (min !== undefined && n < min) {
      throw invalidParam(this.name(key), min > 0 ? `Invalid positive integer` : `This value must be greater than or equal to ${min}.`, 'parameter_invalid_integer')
    }
    return n
  }

  bool (key: string): boolean | undefined {
    const v = this.str(key)
    if (v === undefined) return undefined
    if (v !== 'true' && v !== 'false') throw invalidParam(this.name(key), `Invalid boolean: ${v}`)
    return v === 'true'
  }

  oneOf<T extends string> (key: string, values: readonly T[]): T | undefined {
    const v = this.str(key)
    if (v === undefined) return undefined
    if (!(values as readonly string[]).includes(v)) {
      throw invalidParam(this.name(key), `Invalid ${this.name(key)}: must be one of ${values.join(', ')}`)
    }
    return v as T
  }

  obj (key: string): Reader | undefined {
    const v = this.params[key]
    if (v === undefined || v === '') return undefined
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidParam(this.name(key), `Invalid hash`)
    return new Reader(v, this.name(key))
  }

  /** An array of hashes (`items[0][price]=…`). */
  list (key: string): Reader[] {
    const v = this.params[key]
    if (v === undefined || v === '') return []
    if (!Array.isArray(v)) throw invalidParam(this.name(key), `Invalid array`)
    return v.map((item, i) => {
      if (typeof item !== 'object' || Array.isArray(item)) throw invalidParam(`${this.name(key)}[${i}]`, `Invalid hash`)
      return new Reader(item, `${this.name(key)}[${i}]`)
    })
  }

  strings (key: string): string[] {
    const v = this.params[key]
    if (v === undefined || v === '') return []
    const list = Array.isArray(v) ? v : [v]
    return list.map((item, i) => {
      if (typeof item !== 'string') throw invalidParam(`${this.name(key)}[${i}]`, `Invalid string`)
      return item
    })
  }

  /** Metadata updates: `metadata[k]=` deletes k, `metadata=` clears everything. */
  metadata (current: Record<string, string> = {}, key = 'metadata'): Record<string, string> {
    const v = this.params[key]
    if (v === undefined) return current
    if (v === '') return {}
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidParam(this.name(key), 'Invalid hash')
    const next = { ...current }
    for (const [k, value] of Object.entries(v)) {
      if (typeof value !== 'string') throw invalidParam(`${this.name(key)}[${k}]`, 'Invalid string')
      if (value === '') delete next[k]
      else next[k] = value
    }
    return next
  }
}
