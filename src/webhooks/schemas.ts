import { Type } from '@sinclair/typebox'
import { ListOf, ListQuery, Nullable, NullableTimestamp, Timestamp } from '../platform/http/schemas.ts'

/** Checked by hand (unknown project or mode is 404, not a validation error). */
export const WebhookParams = Type.Object({
  project_id: Type.String({ maxLength: 64 }),
  mode: Type.String({ maxLength: 16, description: '`test` or `live`' }),
}, { additionalProperties: false })

export const WebhookReceived = Type.Object({
  received: Type.Literal(true),
  duplicate: Type.Optional(Type.Boolean({ description: 'The event was already processed or ignored; nothing was applied again' })),
  ignored: Type.Optional(Type.Boolean({ description: 'The platform does not handle this event type; it was recorded' })),
}, { additionalProperties: false })

export const EventStatus = Type.Union([Type.Literal('processed'), Type.Literal('ignored'), Type.Literal('failed')])

export const RecordedEvent = Type.Object({
  id: Type.String(),
  type: Type.String(),
  status: EventStatus,
  attempts: Type.Integer(),
  error: Nullable(Type.String()),
  created: Timestamp,
  received_at: Timestamp,
  processed_at: NullableTimestamp,
}, { additionalProperties: false })

export const EventListQuery = Type.Composite([ListQuery, Type.Object({
  test_mode: Type.Boolean({ default: true }),
  status: Type.Optional(EventStatus),
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
})], { additionalProperties: false })

export const EventList = ListOf(RecordedEvent)

export const EventParams = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
  event_id: Type.String({ minLength: 1, maxLength: 255, pattern: '^evt_[A-Za-z0-9_]+$' }),
}, { additionalProperties: false })

export const ReplayResult = Type.Object({
  outcome: Type.Union([Type.Literal('processed'), Type.Literal('ignored')]),
  event: RecordedEvent,
}, { additionalProperties: false })

export const ManagedEndpoint = Type.Object({
  project_id: Type.String(),
  mode: Type.Union([Type.Literal('test'), Type.Literal('live')]),
  webhook_endpoint_id: Type.String(),
  url: Type.String(),
  enabled_events: Type.Array(Type.String()),
  api_version: Nullable(Type.String()),
  created: Type.Boolean({ description: 'false when an existing endpoint was reused' }),
  removed_endpoint_ids: Type.Array(Type.String({ description: 'Endpoints tagged with this project that pointed at an old URL' })),
}, { additionalProperties: false })
