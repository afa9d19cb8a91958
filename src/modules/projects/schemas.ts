import { Type } from '@sinclair/typebox'
import { ListOf, ListQuery, Timestamp } from '../../platform/http/schemas.ts'

export const Project = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  created_at: Timestamp,
  updated_at: Timestamp,
})

export const ProjectWithSecret = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  created_at: Timestamp,
  end_user_secret: Type.String({ description: 'Signs this project\'s end-user tokens (HS256). Shown only on creation and rotation.' }),
})

export const CreateProjectBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
}, { additionalProperties: false })

export const ProjectList = ListOf(Project)
export const ProjectListQuery = Type.Object({
  ...ListQuery.properties,
  starting_after: Type.Optional(Type.String({ format: 'uuid', description: 'id of the last project of the previous page' })),
}, { additionalProperties: false })
