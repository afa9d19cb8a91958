/** The id of an expandable Stripe field: the string itself, or the expanded object's id. */
export const idOf = (value: string | { id: string } | null | undefined): string | null =>
  value == null ? null : typeof value === 'string' ? value : value.id

/** A Stripe unix timestamp as a Date; null for absent or zero (Stripe's "not set"). */
export const fromUnix = (seconds: number | null | undefined): Date | null =>
  typeof seconds === 'number' && seconds > 0 ? new Date(seconds * 1000) : null
