import { randomBytes } from 'node:crypto'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export function randomAlnum (length: number): string {
  let out = ''
  // 248 = 62 * 4: rejecting bytes above it keeps every character equally likely
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALNUM.charAt(byte % 62)
    }
  }
  return out
}

export function newId (prefix: string, length = 24): string {
  return `${prefix}_${randomAlnum(length)}`
}

export const requestId = (): string => newId('req', 14)
export const nowSeconds = (): number => Math.floor(Date.now() / 1000)
