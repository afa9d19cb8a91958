import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'
import { openDatabase } from './platform/db/client.ts'

/** The OpenAPI document as YAML, generated from the route schemas of a fully built app. */
export async function renderOpenApiYaml (): Promise<string> {
  const config = loadConfig({
    NODE_ENV: 'test',
    ENCRYPTION_KEYS: `doc:${Buffer.alloc(32).toString('base64')}`,
    JWT_SECRET: 'x'.repeat(32),
    PUBLIC_BASE_URL: 'http://localhost:3000',
  })
  const database = await openDatabase({})
  const app = await buildApp({ config, database })
  try {
    await app.ready()
    return app.swagger({ yaml: true })
  } finally {
    await app.close()
    await database.close()
  }
}
