import { Type } from '@sinclair/typebox'
import { Mode, Nullable, NullableTimestamp, Timestamp } from '../../platform/http/schemas.ts'

export const CreateApiKeyBody = Type.Object({
  mode: Mode,
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
}, { additionalProperties: false })

export const ApiKeyView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  project_id: Type.String({ format: 'uuid' }),
  mode: Mode,
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the key, to recognise it' }),
  last_used_at: NullableTimestamp,
  revoked_at: NullableTimestamp,
  created_at: Timestamp,
})

export const CreatedApiKey = Type.Composite([ApiKeyView, Type.Object({
  key: Type.String({ description: 'The key itself: shown only in this response, stored only as a hash' }),
})])

export const ApiKeyList = Type.Object({ data: Type.Array(ApiKeyView) })

export const ApiKeyParams = Type.Object({
  project_id: Type.String({ format: 'uuid' }),
  key_id: Type.String({ format: 'uuid' }),
}, { additionalProperties: false })

export const RevokedApiKey = Type.Object({ id: Type.String({ format: 'uuid' }), revoked_at: Nullable(Timestamp) })
