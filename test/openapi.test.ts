import { readFileSync } from 'node:fs'
import t from 'tap'
import { parse } from 'yaml'
import { renderOpenApiYaml } from '../src/openapi-document.ts'

t.test('openapi.yaml is what the route schemas generate (run npm run openapi:generate after changing a route)', async (t) => {
  const committed = readFileSync(new URL('../openapi.yaml', import.meta.url), 'utf8')
  const generated = await renderOpenApiYaml()
  t.equal(committed, generated)
})

t.test('every operation has an operationId, a tag and declared responses', async (t) => {
  const doc = parse(await renderOpenApiYaml()) as { paths: Record<string, Record<string, { operationId?: string, tags?: string[], responses?: Record<string, unknown> }>> }
  const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })))
  t.ok(operations.length >= 12, `${operations.length} operations`)
  for (const { path, method, op } of operations) {
    t.ok(op.operationId, `${method} ${path} has an operationId`)
    t.ok(op.tags?.length, `${method} ${path} has a tag`)
    t.ok(op.responses && Object.keys(op.responses).length > 0, `${method} ${path} declares responses`)
  }
})
