import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.ts'

const key = (id: string, byte = 1) => `${id}:${Buffer.alloc(32, byte).toString('base64')}`
const tempDir = () => mkdtempSync(join(tmpdir(), 'config-test-'))

t.test('production without ENCRYPTION_KEYS stops with a message naming it', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }), { name: 'ConfigError', message: /ENCRYPTION_KEYS/ })
})

t.test('production without JWT_SECRET or JWT_PUBLIC_KEY stops with a message naming them', async (t) => {
  t.throws(() => loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: key('k1') }), { name: 'ConfigError', message: /JWT_SECRET or JWT_PUBLIC_KEY/ })
})

t.test('production with both starts, and nothing is generated', async (t) => {
  const dir = tempDir()
  const config = loadConfig({ NODE_ENV: 'production', ENCRYPTION_KEYS: key('k1'), JWT_SECRET: 'x'.repeat(32), DATA_DIR: dir, DATABASE_URL: 'postgres://u@h/db' })
  t.equal(config.encryptionKeys[0]?.id, 'k1')
  t.same(config.warnings, [])
  t.throws(() => statSync(join(dir, 'dev-secrets.json')))
})

t.test('outside production missing keys are generated once into DATA_DIR, loudly, and reused', async (t) => {
  const dir = tempDir()
  const first = loadConfig({ DATA_DIR: dir })
  t.match(first.warnings.join('\n'), /ENCRYPTION_KEYS is not set.*Never use it in production/)
  t.match(first.warnings.join('\n'), /JWT_SECRET is not set/)
  t.match(first.warnings.join('\n'), /embedded PGlite/)
  const file = join(dir, 'dev-secrets.json')
  t.equal(statSync(file).mode & 0o777, 0o600, 'readable by the owner only')
  const second = loadConfig({ DATA_DIR: dir })
  t.same(second.encryptionKeys, first.encryptionKeys, 'the same key after a restart')
  t.equal(second.jwt.secret, first.jwt.secret)
  t.ok(JSON.parse(readFileSync(file, 'utf8')).JWT_SECRET)
})

t.test('the environment is validated: bad values name their variable', async (t) => {
  const base = { ENCRYPTION_KEYS: key('k1'), JWT_SECRET: 'x'.repeat(32) }
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['non-numeric port', { PORT: 'eighty' }, /PORT/],
    ['port out of range', { PORT: '70000' }, /PORT/],
    ['not a postgres URL', { DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    ['short JWT secret', { JWT_SECRET: 'short' }, /JWT_SECRET/],
    ['unknown log level', { LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    ['STRIPE_API_BASE with a path', { STRIPE_API_BASE: 'http://127.0.0.1:12111/v1' }, /STRIPE_API_BASE/],
    ['key of the wrong length', { ENCRYPTION_KEYS: `k1:${Buffer.alloc(16).toString('base64')}` }, /exactly 32 bytes/],
    ['key without an id', { ENCRYPTION_KEYS: Buffer.alloc(32).toString('base64') }, /id:base64/],
    ['duplicate key ids', { ENCRYPTION_KEYS: `${key('k1')},${key('k1', 2)}` }, /unique/],
  ]
  for (const [label, env, message] of cases) {
    t.throws(() => loadConfig({ ...base, ...env }), { message }, label)
  }
  t.ok(new ConfigError('x') instanceof Error)
})

t.test('defaults follow DESIGN.md', async (t) => {
  const config = loadConfig({ ENCRYPTION_KEYS: `${key('new', 2)},${key('old', 3)}`, JWT_SECRET: 'x'.repeat(32), PORT: '4000', STRIPE_API_BASE: 'http://127.0.0.1:12111/' })
  t.equal(config.port, 4000)
  t.equal(config.publicBaseUrl, 'http://localhost:4000')
  t.equal(config.databaseUrl, undefined, 'embedded database by default')
  t.equal(config.stripeApiBase, 'http://127.0.0.1:12111')
  t.same(config.encryptionKeys.map((k) => k.id), ['new', 'old'], 'the first encrypts, all decrypt')
})
