import { defineConfig } from 'drizzle-kit'

// Migrations are generated from src/platform/db/schema.ts and applied by src/platform/db/client.ts on both drivers.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/platform/db/schema.ts',
  out: './migrations',
})
