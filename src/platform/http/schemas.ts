import { Type, type Static, type TSchema } from '@sinclair/typebox'

export const Problem = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String({ description: 'Stable machine-readable error code' }),
  instance: Type.Optional(Type.String()),
  errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
}, { additionalProperties: true, description: 'RFC 9457 problem details' })

export const ModeQuery = Type.Object({
  test_mode: Type.Boolean({ default: true, description: 'true for the test configuration, false for live' }),
}, { additionalProperties: false })
export type ModeQuery = Static<typeof ModeQuery>

export const ProjectParams = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
}, { additionalProperties: false })

export const Mode = Type.Union([Type.Literal('test'), Type.Literal('live')])

export const Timestamp = Type.String({ format: 'date-time' })
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()])
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const ListQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  starting_after: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
})

export const ListOf = <T extends TSchema>(item: T) => Type.Object({
  data: Type.Array(item),
  has_more: Type.Boolean(),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
})

/** Headers are open (every request carries many); only `Idempotency-Key` is described, with what repeating it does. */
export const IdempotencyKeyHeader = (description: string) => Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, description })),
})

/** Problem responses for the given statuses, for a route's `response` schema. */
export const problems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, Problem]))

export const modeOf = (q: { test_mode: boolean }): 'test' | 'live' => (q.test_mode ? 'test' : 'live')
