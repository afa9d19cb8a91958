// npm run db:migrate: applies migrations/ to DATABASE_URL, or to the embedded database in DATA_DIR.
import { loadConfig } from '../src/config.ts'
import { openDatabase } from '../src/platform/db/client.ts'

const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: `${config.dataDir}/pglite` })
try {
  await database.migrate()
  console.log(`migrations applied (${database.kind})`)
} finally {
  await database.close()
}
