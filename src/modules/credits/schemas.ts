import { Type, type Static } from '@sinclair/typebox'
import { IdempotencyKeyHeader, ListQuery, Nullable, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts'

/** The developer's own id for an end user, as in end-user tokens' `sub`. */
export const EndUserId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'Your id for the end user (the `sub` of their tokens)' })
const Credits = (description: string) => Type.Integer({ minimum: 1, maximum: 1_000_000_000, description })
const Bucket = Type.Union([Type.Literal('monthly'), Type.Literal('purchased'), Type.Literal('bonus')])

/**
 * Where a backend call reaches: with an API key, its own project and mode (a different project_id or
 * test_mode is 404); with a developer token, project_id is required and test_mode defaults to true.
 */
export const BackendQuery = Type.Object({
  project_id: Type.Optional(Type.String({ format: 'uuid', description: 'Required with a developer token; with an API key, only its own project' })),
  test_mode: Type.Optional(Type.Boolean({ description: 'With a developer token (default true); with an API key, only its own mode' })),
}, { additionalProperties: false })
export type BackendQuery = Static<typeof BackendQuery>

export const IdempotencyRequired = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Required. The same key with the same body answers the first result again (Idempotent-Replayed: true); with another body, 409' })),
})
export const ConsumeHeaders = IdempotencyRequired
export const OptionalIdempotency = IdempotencyKeyHeader('Optional')

const Metadata = Type.Record(Type.String({ maxLength: 40 }), Type.String({ maxLength: 500 }), { maxProperties: 20 })

export const ConsumeBody = Type.Object({
  end_user_id: EndUserId,
  amount: Type.Optional(Credits('Credits to spend (default 1)')),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  metadata: Type.Optional(Metadata),
}, { additionalProperties: false })
export type ConsumeBody = Static<typeof ConsumeBody>

export const CheckBody = Type.Object({
  end_user_id: EndUserId,
  amount: Type.Optional(Credits('Credits the work would spend (default 1)')),
}, { additionalProperties: false })

export const ReserveBody = Type.Object({
  end_user_id: EndUserId,
  amount: Credits('Credits to set aside'),
  ttl_seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, default: 300 })),
}, { additionalProperties: false })

export const CommitBody = Type.Object({
  amount: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'At most the reserved amount (default: all of it); the rest is released' })),
}, { additionalProperties: false })

export const AdjustmentBody = Type.Object({
  end_user_id: EndUserId,
  amount: Type.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000, not: { const: 0 }, description: 'Positive grants a lot in `bucket`; negative takes from that bucket' }),
  bucket: Bucket,
  reason: Type.String({ minLength: 1, maxLength: 500 }),
}, { additionalProperties: false })

export const ReservationParams = Type.Object({ reservation_id: Type.String({ format: 'uuid' }) }, { additionalProperties: false })
export const EndUserParams = Type.Object({ end_user_id: EndUserId }, { additionalProperties: false })

export const Balance = Type.Object({
  end_user_id: Type.String(),
  monthly: Type.Integer(),
  purchased: Type.Integer(),
  bonus: Type.Integer(),
  total: Type.Integer(),
  reserved: Type.Integer(),
  available: Type.Integer({ description: 'total − reserved − debt (never below 0)' }),
  debt: Type.Integer({ description: 'Refunded credits that were already spent; the next grant pays it first' }),
  next_reset_at: NullableTimestamp,
  expiring: Type.Array(Type.Object({ amount: Type.Integer(), expires_at: Timestamp })),
})

export const Consumption = Type.Object({
  id: Type.String({ format: 'uuid' }),
  end_user_id: Type.String(),
  amount: Type.Integer(),
  description: Nullable(Type.String()),
  metadata: Nullable(Metadata),
  balance: Balance,
})

export const CheckResult = Type.Object({ allowed: Type.Boolean(), balance: Balance })

export const Reservation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  end_user_id: Type.String(),
  amount: Type.Integer(),
  status: Type.String(),
  expires_at: Timestamp,
  balance: Balance,
})

export const SettledReservation = Type.Object({
  id: Type.String({ format: 'uuid' }),
  end_user_id: Type.String(),
  amount: Type.Integer(),
  committed: Type.Integer(),
  status: Type.Union([Type.Literal('committed'), Type.Literal('released')]),
  balance: Balance,
})

export const Adjustment = Type.Object({
  end_user_id: Type.String(),
  amount: Type.Integer(),
  bucket: Bucket,
  reason: Type.String(),
  balance: Balance,
})

export const LedgerKind = Type.Union(['grant', 'consume', 'reserve', 'release', 'expire', 'reset', 'clawback', 'debt', 'adjustment', 'referral_bonus'].map((k) => Type.Literal(k)))

export const LedgerEntry = Type.Object({
  id: Type.String({ format: 'uuid' }),
  seq: Type.Integer({ description: 'Gapless per wallet: 1, 2, 3 …' }),
  kind: LedgerKind,
  bucket: Nullable(Bucket),
  amount: Type.Integer({ description: 'Signed: what the entry adds to its bucket (reserve/release: to reserved; debt with no bucket: to debt)' }),
  balance_after: Type.Object({ monthly: Type.Integer(), purchased: Type.Integer(), bonus: Type.Integer(), total: Type.Integer(), reserved: Type.Integer(), debt: Type.Integer() }),
  lot_id: Nullable(Type.String()),
  source: Nullable(Type.String()),
  description: Nullable(Type.String()),
  created_at: Timestamp,
})

export const LedgerPage = Type.Object({
  data: Type.Array(LedgerEntry),
  has_more: Type.Boolean(),
  next_cursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as starting_after: the seq of the last entry shown' }),
})

const LedgerFilters = {
  limit: ListQuery.properties.limit,
  starting_after: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'The seq of the last entry of the previous page (entries are newest first)' })),
  kind: Type.Optional(LedgerKind),
}
export const LedgerQuery = Type.Object({ ...BackendQuery.properties, end_user_id: EndUserId, ...LedgerFilters }, { additionalProperties: false })
export const MyLedgerQuery = Type.Object({ test_mode: Type.Boolean({ default: true }), ...LedgerFilters }, { additionalProperties: false })
