import { createHmac, timingSafeEqual } from 'node:crypto'
import type Stripe from 'stripe'
import type { Mode } from '../platform/stripe/client.ts'
import { eventObjectProblem } from './registry.ts'
import { unixNow } from '../platform/time.ts'

/** Stripe's default: a signed timestamp older than this is a replay. */
export const WEBHOOK_TOLERANCE_SECONDS = 300

export type VerifyFailure =
  | 'signature_missing' | 'signature_malformed' | 'signature_mismatch' | 'timestamp_out_of_tolerance'
  | 'no_webhook_secret' | 'malformed_body' | 'livemode_mismatch' | 'malformed_event_object'

export class WebhookVerificationError extends Error {
  constructor (readonly reason: VerifyFailure, detail: string) {
    super(detail)
    this.name = 'WebhookVerificationError'
  }
}

export interface VerifyInput {
  rawBody: Buffer
  signatureHeader: string | undefined
  secrets: readonly string[]
  mode: Mode
  /** Unix seconds; default now. */
  now?: number
  toleranceSeconds?: number
}

const fail = (reason: VerifyFailure, detail: string): never => { throw new WebhookVerificationError(reason, detail) }

const HEX64 = /^[0-9a-f]{64}$/

/** `t=<unix>,v1=<hex>[,v1=<hex>…]`: every v1 is kept (secret rolling); other schemes are ignored. */
export function parseSignatureHeader (header: string): { timestamp: number, signatures: Buffer[] } {
  let timestamp: number | undefined
  const signatures: Buffer[] = []
  // Bounded: a header with thousands of parts is not from Stripe.
  const parts = header.split(',', 32)
  for (const part of parts) {
    const at = part.indexOf('=')
    if (at < 1) continue
    const key = part.slice(0, at).trim()
    const value = part.slice(at + 1).trim()
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value)
    else if (key === 'v1' && HEX64.test(value)) signatures.push(Buffer.from(value, 'hex'))
  }
  if (timestamp === undefined) fail('signature_malformed', 'The Stripe-Signature header has no timestamp')
  if (signatures.length === 0) fail('signature_malformed', 'No signatures found with expected scheme')
  return { timestamp: timestamp as number, signatures }
}

/** A Stripe event that passed verification: the fields every event definition (events/) relies on are present. */
export type VerifiedEvent = Stripe.Event

/** The verified event and the body's text (decoded once: it is also what gets stored). */
export interface Verified { event: VerifiedEvent, payload: string }

/**
 * The only place that checks a webhook: signature over the raw bytes (every v1 against every secret,
 * in constant time), timestamp tolerance, then the JSON shape, `livemode` against the URL's mode, and
 * for a handled type the fields its effects read from the object (the schema its event file names).
 */
export function verifyWebhook (input: VerifyInput): Verified {
  const { rawBody, signatureHeader, secrets, mode } = input
  if (!signatureHeader) fail('signature_missing', 'The Stripe-Signature header is missing')
  if (secrets.length === 0) fail('no_webhook_secret', 'No webhook signing secret is configured for this project and mode')
  const { timestamp, signatures } = parseSignatureHeader(signatureHeader as string)

  let matched = false
  for (const secret of secrets) {
    const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest()
    // No early exit: the time taken does not reveal which secret or signature matched.
    for (const signature of signatures) {
      if (signature.length === expected.length && timingSafeEqual(signature, expected)) matched = true
    }
  }
  if (!matched) fail('signature_mismatch', 'No signatures found matching the expected signature for payload')

  const now = input.now ?? unixNow()
  const tolerance = input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS
  if (Math.abs(now - timestamp) > tolerance) fail('timestamp_out_of_tolerance', 'Timestamp outside the tolerance zone')

  const payload = rawBody.toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(payload)
  } catch {
    return fail('malformed_body', 'The body is not valid JSON')
  }
  return { event: checkEvent(parsed, mode), payload }
}

/**
 * What is checked of an event past its signature (also of one listed from Stripe by a resync): its
 * shape, `livemode` against the mode, and for a handled type the fields its effects read.
 */
export function checkEvent (parsed: unknown, mode: VerifyInput['mode']): VerifiedEvent {
  if (!isEventShape(parsed)) fail('malformed_body', 'The body is not a Stripe event (id, type, created, livemode and data.object are required)')
  const event = parsed as VerifiedEvent
  if (event.livemode !== (mode === 'live')) {
    fail('livemode_mismatch', `A ${event.livemode ? 'live' : 'test'}-mode event was sent to the ${mode} webhook URL`)
  }
  const problem = eventObjectProblem(event.type, event.data.object)
  if (problem) fail('malformed_event_object', problem)
  return event
}

function isEventShape (value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const v = value as Record<string, unknown>
  const data = v.data
  return typeof v.id === 'string' && /^evt_[A-Za-z0-9_]{1,250}$/.test(v.id) &&
    typeof v.type === 'string' && v.type.length > 0 && v.type.length <= 128 &&
    typeof v.created === 'number' && Number.isInteger(v.created) && v.created > 0 &&
    typeof v.livemode === 'boolean' &&
    typeof data === 'object' && data !== null &&
    typeof (data as Record<string, unknown>).object === 'object' && (data as Record<string, unknown>).object !== null
}
