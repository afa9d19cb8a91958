// npm run seed -- --developers 10 --projects 50 --transactions 1000000 --subscriptions 100000 [--seed 1] [--database-url postgres://…]
// Fills the database (DATABASE_URL, or the embedded one under DATA_DIR) with realistic dashboard data
// generated inside Postgres, then computes the stats rows from it, so `stats:recompute --check` finds no drift.
import { parseArgs } from 'node:util'
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'
import { seedDatabase } from '../src/jobs/seed.ts'

const { values } = parseArgs({
  options: {
    developers: { type: 'string', default: '10' },
    projects: { type: 'string', default: '50' },
    transactions: { type: 'string', default: '100000' },
    subscriptions: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    'database-url': { type: 'string' },
    'batch-size': { type: 'string' },
    concurrency: { type: 'string' },
  },
})

const count = (name: string, value: string | undefined, min: number): number => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`)
  return n
}

const config = loadConfig(values['database-url'] ? { ...process.env, DATABASE_URL: values['database-url'] } : process.env)
const database = await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite`, poolSize: 8 })
const server = database.kind === 'postgres'
try {
  await database.migrate()
  const options = {
    developers: count('developers', values.developers, 1),
    projects: count('projects', values.projects, 1),
    transactions: count('transactions', values.transactions, 0),
    subscriptions: count('subscriptions', values.subscriptions, 0),
    seed: count('seed', values.seed, 0),
    batchSize: values['batch-size'] ? count('batch-size', values['batch-size'], 1) : (server ? 50_000 : 20_000),
    concurrency: values.concurrency ? count('concurrency', values.concurrency, 1) : (server ? 4 : 1),
  }
  console.log(`seeding ${database.kind}: ${options.developers} developers, ${options.projects} projects, ${options.transactions} transactions, ${options.subscriptions} subscriptions (seed ${options.seed})`)
  let last = 0
  const result = await seedDatabase(database.db, {
    ...options,
    keyring: config,
    onProgress: (table, done, total) => {
      const now = Date.now()
      if (done === total || now - last > 2000) { console.log(`  ${table}: ${done}/${total}`); last = now }
    },
  })
  const rows = result.rows.transactions + result.rows.subscriptions + result.rows.customers
  console.log(`inserted ${rows} rows in ${(result.ms.insert / 1000).toFixed(1)} s (${Math.round(rows / (result.ms.insert / 1000))} rows/s); stats computed in ${(result.ms.stats / 1000).toFixed(1)} s`)
  console.log(`developers: ${result.developers.slice(0, 5).join(', ')}${result.developers.length > 5 ? ', …' : ''} (mint a token: npm run -s token -- developer ${result.developers[0] ?? 'dev_seed_1'})`)
} finally {
  await database.close()
}
