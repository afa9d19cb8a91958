// npm run openapi:generate: writes openapi.yaml from the route schemas (a test fails when it drifts).
import { writeFileSync } from 'node:fs'
import { renderOpenApiYaml } from '../src/openapi-document.ts'

writeFileSync(new URL('../openapi.yaml', import.meta.url), await renderOpenApiYaml())
console.log('openapi.yaml written')
