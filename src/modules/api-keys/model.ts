import { createHash, randomBytes } from 'node:crypto'
import type { Mode } from '../../platform/stripe/client.ts'

/** `psk_test_…` / `psk_live_…`: the mode in the prefix, 32 random bytes after it. */
export const API_KEY = /^psk_(test|live)_[A-Za-z0-9_-]{43}$/

export const newApiKey = (mode: Mode): string => `psk_${mode}_${randomBytes(32).toString('base64url')}`

/** Only this is stored: a key is 256 random bits, so a plain sha256 is as good as a slow hash here. */
export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex')

/** Enough to recognise a key in a list, never enough to use it. */
export const prefixOf = (key: string): string => key.slice(0, 'psk_test_'.length + 6)
