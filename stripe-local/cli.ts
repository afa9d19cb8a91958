import { parseArgs } from 'node:util'
import { startStripeLocal } from './index.ts'

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '12111' },
    host: { type: 'string', default: '127.0.0.1' },
  },
})

const port = Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`stripe-local: invalid --port ${values.port}`)
  process.exit(2)
}

const local = await startStripeLocal({ port, host: values.host, retry: { maxAttempts: 8, baseDelayMs: 1_000 } })
console.log(`stripe-local listening on ${local.url}`)
console.log(`  create an account: curl -X POST ${local.url}/_local/accounts`)
console.log(`  point the service at it: STRIPE_API_BASE=${local.url}`)

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    local.close().then(() => process.exit(0), () => process.exit(1))
  })
}
