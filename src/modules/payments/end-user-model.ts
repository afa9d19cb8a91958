import type Stripe from 'stripe'
import type { Mode } from '../../platform/stripe/client.ts'

const END_USER_ID = /^[\x21-\x7e]{1,128}$/

/** The end user our checkout put in the metadata, if it was put there for this project and mode. */
export function endUserFromMetadata (metadata: Stripe.Metadata | null | undefined, projectId: string, mode: Mode): string | null {
  if (!metadata) return null
  const id = metadata.end_user_id
  if (typeof id !== 'string' || !END_USER_ID.test(id)) return null
  if (metadata.project_id !== undefined && metadata.project_id !== projectId) return null
  if (metadata.mode !== undefined && metadata.mode !== mode) return null
  return id
}

export const validEndUserId = (id: string | null | undefined): string | null =>
  typeof id === 'string' && END_USER_ID.test(id) ? id : null
