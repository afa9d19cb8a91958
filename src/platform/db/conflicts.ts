/**
 * Optimistic writes. An effect (effects.ts) reads the rows it merges into (with their `xmin`), computes the
 * new state in TypeScript, and writes it in ONE statement that first locks those rows and checks they
 * are unchanged. When another writer got there first (a changed or deleted row, a unique id taken by
 * a concurrent insert, a deadlock between two merges), the statement changes nothing and the whole
 * read-compute-write runs again on fresh rows.
 */
export class WriteConflict extends Error {
  constructor (what: string) {
    super(`${what} changed while the event was applied; retrying`)
    this.name = 'WriteConflict'
  }
}

/** unique_violation, serialization_failure, deadlock_detected: the statement did nothing and may be run again. */
const RETRYABLE_SQLSTATES = new Set(['23505', '40001', '40P01'])

/** The SQLSTATE of a driver error, also when drizzle wrapped it (postgres.js and PGlite both carry `code`). */
export function sqlStateOf (err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
  }
  return undefined
}

export const isWriteConflict = (err: unknown): boolean =>
  err instanceof WriteConflict || RETRYABLE_SQLSTATES.has(sqlStateOf(err) ?? '')

/** Runs `fn` again while it ends in a write conflict, at most `attempts` times; the last conflict is thrown. */
export async function retryOnConflict<T> (fn: () => Promise<T>, attempts = 8): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (attempt >= attempts || !isWriteConflict(err)) throw err
    }
  }
}

/** A failure of the database itself (connection lost, server shutting down, out of resources), not of the statement. */
export function isDatabaseUnavailable (err: unknown): boolean {
  const state = sqlStateOf(err)
  if (state) return /^(08|53|57|58)/.test(state)
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^(CONNECT|ECONN|EPIPE|ETIMEDOUT)/.test(code)
}
