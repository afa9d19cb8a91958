/**
 * Keyset pages: a list query fetches `limit + 1` rows; the extra row only says there is more, and
 * the last row kept is the next page's `starting_after`.
 */
export interface Page<View> { data: View[], has_more: boolean, next_cursor: string | null }

/** The `limit + 1` rows a list query fetched, cut to the page and whether another follows. */
export function splitPage<Row> (rows: Row[], limit: number): { rows: Row[], hasMore: boolean } {
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit }
}

/** The response body of a list route (ListOf in schemas.ts): each row's view, and the cursor when there is more. */
export function pageOf<Row extends { id: string }, View> (rows: Row[], hasMore: boolean, view: (row: Row) => View): Page<View> {
  return { data: rows.map(view), has_more: hasMore, next_cursor: hasMore ? (rows.at(-1)?.id ?? null) : null }
}
