import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

/**
 * AES-256-GCM envelope: `v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url parts).
 * The associated data names the row and field the secret belongs to, so a ciphertext copied into
 * another project's, mode's or field's column fails authentication instead of decrypting.
 */
export interface Keyring { encryptionKeys: Array<{ id: string, key: Buffer }> }

export class DecryptionError extends Error {
  override name = 'DecryptionError'
}

export type SecretField = 'secret_key' | 'webhook_secret' | 'managed_webhook_secret' | 'end_user_secret'

export function associatedData (projectId: string, mode: 'test' | 'live' | null, field: SecretField): string {
  return `project:${projectId}|mode:${mode ?? '-'}|field:${field}`
}

export function seal (keyring: Keyring, plaintext: string, aad: string): string {
  const primary = keyring.encryptionKeys[0]
  if (!primary) throw new Error('no encryption key configured')
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', primary.key, iv)
  cipher.setAAD(Buffer.from(aad, 'utf8'))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return ['v1', primary.id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
}

export function keyIdOf (sealed: string): string | null {
  const parts = sealed.split('.')
  return parts.length === 5 && parts[0] === 'v1' ? (parts[1] ?? null) : null
}

/** Fails closed: any malformed, tampered, swapped or unknown-key ciphertext throws DecryptionError without detail. */
export function open (keyring: Keyring, sealed: string, aad: string): string {
  const parts = sealed.split('.')
  if (parts.length !== 5 || parts[0] !== 'v1') throw new DecryptionError('malformed ciphertext')
  const [, keyId = '', ivText = '', bodyText = '', tagText = ''] = parts
  const entry = keyring.encryptionKeys.find((k) => k.id === keyId)
  if (!entry) throw new DecryptionError(`unknown encryption key id "${keyId}"`)
  const iv = Buffer.from(ivText, 'base64url')
  const tag = Buffer.from(tagText, 'base64url')
  if (iv.length !== 12 || tag.length !== 16) throw new DecryptionError('malformed ciphertext')
  try {
    const decipher = createDecipheriv('aes-256-gcm', entry.key, iv, { authTagLength: 16 })
    decipher.setAAD(Buffer.from(aad, 'utf8'))
    decipher.setAuthTag(tag)
    return Buffer.concat([decipher.update(Buffer.from(bodyText, 'base64url')), decipher.final()]).toString('utf8')
  } catch {
    throw new DecryptionError('ciphertext failed authentication')
  }
}

/** `sk_test_…4242`: enough to recognise a key, never enough to use it. */
export function keyHint (key: string): string {
  const prefix = /^[a-z]{2}_(test|live)_/.exec(key)?.[0] ?? key.slice(0, 3)
  return `${prefix}…${key.slice(-4)}`
}
