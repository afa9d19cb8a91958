import { defineConfig } from 'drizzle-kit'

// Migrations are generated from src/db/schema.ts and applied by src/db/migrate.ts on both drivers.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
})
