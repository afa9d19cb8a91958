/** Date helpers shared by every layer: UTC days as YYYY-MM-DD, unix seconds (Stripe's timestamps) and ISO 8601 strings. */

export const DAY_MS = 86_400_000

/** The UTC date of an instant (a Date or epoch milliseconds), YYYY-MM-DD. */
export const utcDay = (at: Date | number): string => (typeof at === 'number' ? new Date(at) : at).toISOString().slice(0, 10)

/** Epoch milliseconds of midnight UTC that starts a YYYY-MM-DD date (NaN for other text). */
export const dayStartMs = (day: string): number => Date.parse(`${day}T00:00:00Z`)

/** Now, in unix seconds. */
export const unixNow = (): number => Math.floor(Date.now() / 1000)

/** Unix seconds as a Date (for Stripe's optional fields, where 0 means unset, see fromUnix in stripe/objects.ts). */
export const unixToDate = (seconds: number): Date => new Date(seconds * 1000)

/** Unix seconds as an ISO 8601 string. */
export const unixToIso = (seconds: number): string => unixToDate(seconds).toISOString()

/** A nullable timestamp column as an ISO 8601 string, or null. */
export const isoOrNull = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null)
