import t from 'tap'
import { randomBytes } from 'node:crypto'
import { associatedData, DecryptionError, keyHint, keyIdOf, open, seal } from '../src/platform/crypto.ts'

const k1 = { id: 'k1', key: randomBytes(32) }
const k2 = { id: 'k2', key: randomBytes(32) }
const ring = { encryptionKeys: [k1] }
const aad = associatedData('11111111-1111-4111-8111-111111111111', 'test', 'secret_key')
const secret = 'sk_test_51ExampleSecretKeyValue4242'

t.test('seals with the first key and opens again', async (t) => {
  const sealed = seal(ring, secret, aad)
  t.equal(keyIdOf(sealed), 'k1')
  t.notOk(sealed.includes(secret))
  t.not(seal(ring, secret, aad), sealed, 'a fresh IV every time')
  t.equal(open(ring, sealed, aad), secret)
})

t.test('tampered ciphertext fails closed', async (t) => {
  const sealed = seal(ring, secret, aad)
  const parts = sealed.split('.')
  for (const index of [2, 3, 4]) {
    const bytes = Buffer.from(parts[index] ?? '', 'base64url')
    bytes[0] = (bytes[0] ?? 0) ^ 1
    const tampered = parts.map((p, i) => (i === index ? bytes.toString('base64url') : p)).join('.')
    t.throws(() => open(ring, tampered, aad), DecryptionError, `part ${index} flipped`)
  }
  t.throws(() => open(ring, 'garbage', aad), DecryptionError)
  t.throws(() => open(ring, sealed.replace('v1.', 'v2.'), aad), DecryptionError)
})

t.test('a ciphertext copied to another project, mode or field does not decrypt', async (t) => {
  const sealed = seal(ring, secret, aad)
  t.throws(() => open(ring, sealed, associatedData('22222222-2222-4222-8222-222222222222', 'test', 'secret_key')), DecryptionError, 'other project')
  t.throws(() => open(ring, sealed, associatedData('11111111-1111-4111-8111-111111111111', 'live', 'secret_key')), DecryptionError, 'other mode')
  t.throws(() => open(ring, sealed, associatedData('11111111-1111-4111-8111-111111111111', 'test', 'webhook_secret')), DecryptionError, 'other field')
})

t.test('rotation: the first key encrypts, every listed key decrypts, an unlisted one fails', async (t) => {
  const old = seal({ encryptionKeys: [k1] }, secret, aad)
  const rotated = { encryptionKeys: [k2, k1] }
  t.equal(open(rotated, old, aad), secret)
  t.equal(keyIdOf(seal(rotated, secret, aad)), 'k2')
  t.throws(() => open({ encryptionKeys: [k2] }, old, aad), { name: 'DecryptionError', message: /unknown encryption key id/ })
})

t.test('a key hint names the kind and the last four characters only', async (t) => {
  t.equal(keyHint('sk_test_51ExampleSecretKeyValue4242'), 'sk_test_…4242')
  t.equal(keyHint('rk_live_51Examplerestricted9876'), 'rk_live_…9876')
})
