import { Type } from '@sinclair/typebox'
import { Mode, Nullable, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts'

export const SyncBody = Type.Object({
  since: Type.Optional(Type.String({
    minLength: 10, maxLength: 40,
    description: 'Replay events created at or after this date (YYYY-MM-DD, midnight UTC) or ISO 8601 date-time; default and at most 30 days ago (Stripe keeps events 30 days). In the future: 400',
  })),
  full: Type.Optional(Type.Boolean({ description: 'Also rebuild from the object lists: subscriptions (status=all), invoices, payment intents and charges as Stripe has them now' })),
}, { additionalProperties: false })

export const SyncParams = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
  sync_id: Type.String({ format: 'uuid' }),
}, { additionalProperties: false })

export const SyncView = Type.Object({
  sync_id: Type.String({ format: 'uuid' }),
  project_id: Type.String({ format: 'uuid' }),
  mode: Mode,
  status: Type.Union([Type.Literal('running'), Type.Literal('interrupted'), Type.Literal('succeeded'), Type.Literal('failed')], {
    description: '`interrupted`: its instance stopped; the next POST resumes it where it stopped',
  }),
  phase: Type.Union([Type.Literal('failed_deliveries'), Type.Literal('events'), Type.Literal('objects'), Type.Literal('done')]),
  since: Timestamp,
  full: Type.Boolean(),
  events_through: NullableTimestamp,
  progress: Type.Object({
    events_listed: Type.Integer({ description: 'Events read from Stripe\'s events list (failed deliveries included)' }),
    events_applied: Type.Integer({ description: 'Events that were missing here, applied through the webhook pipeline' }),
    events_skipped: Type.Integer({ description: 'Events already recorded (delivered by their webhook or an earlier sync)' }),
    events_failed: Type.Integer({ description: 'Events whose processing failed (recorded as failed, like a failed delivery)' }),
    failed_deliveries_replayed: Type.Integer({ description: 'Of the applied events, those Stripe lists as not delivered (delivery_success=false)' }),
    objects_applied: Type.Integer({ description: 'With full: object states applied' }),
    stripe_reads: Type.Integer(),
    rate_limited: Type.Integer({ description: 'Stripe answers of 429, each waited out (Retry-After) and retried' }),
  }, { additionalProperties: false }),
  error: Nullable(Type.String()),
  started_at: Timestamp,
  updated_at: Timestamp,
  finished_at: NullableTimestamp,
}, { additionalProperties: false })

export const SyncStarted = Type.Composite([SyncView, Type.Object({
  outcome: Type.Union([Type.Literal('started'), Type.Literal('resumed'), Type.Literal('already_running')], {
    description: '`already_running`: a sync of this project and mode is running (on any instance); this is that one',
  }),
})], { additionalProperties: false })
