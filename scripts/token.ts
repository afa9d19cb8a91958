// npm run -s token -- developer <developer_id> [--expires-in 1h]
// npm run -s token -- end-user <project_id> <end_user_id> <end_user_secret> [--expires-in 1h]
import { createSigner } from 'fast-jwt'
import { loadConfig } from '../src/config.ts'

const args = process.argv.slice(2)
const expiresAt = args.indexOf('--expires-in')
const expiresIn = expiresAt >= 0 ? args.splice(expiresAt, 2)[1] : '12h'
const [kind, ...rest] = args

function usage (): never {
  console.error('usage: npm run -s token -- developer <developer_id> [--expires-in 1h]\n       npm run -s token -- end-user <project_id> <end_user_id> <end_user_secret> [--expires-in 1h]')
  process.exit(2)
}

const seconds = (text: string | undefined): number => {
  const m = /^(\d+)([smhd])$/.exec(text ?? '')
  if (!m) usage()
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd']
}
const expiresInMs = seconds(expiresIn) * 1000

if (kind === 'developer' && rest.length === 1 && rest[0]) {
  const { jwt } = loadConfig()
  if (!jwt.secret) {
    console.error('JWT_SECRET is not set: with JWT_PUBLIC_KEY, developer tokens are minted by whoever holds the private key')
    process.exit(1)
  }
  console.log(createSigner({ key: jwt.secret, algorithm: 'HS256', expiresIn: expiresInMs })({ sub: rest[0], role: 'developer' }))
} else if (kind === 'end-user' && rest.length === 3 && rest[0] && rest[1] && rest[2]) {
  console.log(createSigner({ key: rest[2], algorithm: 'HS256', expiresIn: expiresInMs })({ sub: rest[1], project_id: rest[0], role: 'end_user' }))
} else {
  usage()
}
