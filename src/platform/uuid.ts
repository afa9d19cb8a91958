const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** A UUID in its textual form, either case (callers lower-case it before use as a key). */
export const isUuid = (value: string): boolean => UUID.test(value)
