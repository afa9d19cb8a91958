export type Json = string | number | boolean | null | Json[] | JsonObject
export interface JsonObject { [key: string]: Json }

export function isObject (v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Deep copy through JSON: event payloads must not change when the object changes later. */
export function snapshot<T extends Json> (v: T): T {
  return JSON.parse(JSON.stringify(v)) as T
}
