import type { Executor } from './client.ts'

/**
 * SQL for the webhook hot path, built without drizzle's query tree. drizzle's `sql` template walks a
 * tree of chunk objects on every call; with the statements of one event holding ~60 values, that
 * walk cost more CPU than anything else the service did per event. A fragment here is the template's
 * strings and values; rendering is one pass that numbers the values $1..$n. Fragments nest. The
 * text of a statement depends only on its shape (which CTEs, how many rows), never on the values,
 * so each connection prepares it once.
 */
export class Fragment {
  constructor (readonly strings: readonly string[], readonly values: readonly unknown[]) {}
}

/** `q\`select … where id = ${id}\``: values become parameters; a Fragment value is inlined. */
export const q = (strings: TemplateStringsArray, ...values: unknown[]): Fragment => new Fragment(strings, values)

/** Trusted SQL text (identifiers and keywords chosen by the code, never input). */
export const raw = (text: string): Fragment => new Fragment([text], [])

export const empty = raw('')

export function join (parts: readonly Fragment[], separator: string): Fragment {
  if (parts.length === 0) return empty
  return new Fragment(['', ...parts.slice(1).map(() => separator), ''], parts)
}

/** `with a as (…), b as (…) <main>`: several writes in one round trip. */
export function withCtes (ctes: ReadonlyArray<readonly [string, Fragment]>, main: Fragment): Fragment {
  if (ctes.length === 0) return main
  return q`with ${join(ctes.map(([name, body]) => q`${raw(name)} as (${body})`), ', ')} ${main}`
}

export interface Rendered { text: string, params: unknown[] }

export function render (fragment: Fragment): Rendered {
  const params: unknown[] = []
  let text = ''
  const walk = (f: Fragment): void => {
    for (let i = 0; i < f.strings.length; i++) {
      text += f.strings[i]
      if (i >= f.values.length) continue
      const value = f.values[i]
      if (value instanceof Fragment) walk(value)
      else {
        params.push(value === undefined ? null : value)
        text += `$${params.length}`
      }
    }
  }
  walk(fragment)
  return { text, params }
}

interface PostgresJsClient { unsafe (text: string, params: unknown[], options: { prepare: boolean }): Promise<unknown[]> }
interface PgliteClient { query (text: string, params: unknown[]): Promise<{ rows: unknown[] }> }

/**
 * Runs a fragment on the driver under a drizzle database or transaction (postgres.js, prepared; or
 * PGlite). Rows come back as the driver parses them: json as objects, booleans, int4 as numbers,
 * text; the hot-path statements select nothing else.
 */
export async function runRows<T> (db: Executor, fragment: Fragment): Promise<T[]> {
  const client = (db as unknown as { session?: { client?: unknown } }).session?.client
  const { text, params } = render(fragment)
  if (client && typeof (client as PostgresJsClient).unsafe === 'function') {
    return await (client as PostgresJsClient).unsafe(text, params, { prepare: true }) as T[]
  }
  if (client && typeof (client as PgliteClient).query === 'function') {
    return (await (client as PgliteClient).query(text, params)).rows as T[]
  }
  throw new Error('runRows: no postgres.js or PGlite client under this drizzle executor')
}
