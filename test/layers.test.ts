import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'

/**
 * The layout's one rule, read from the source: imports point down. A file may import files of its own
 * layer or a lower one, never a higher one, and no chain of imports comes back to where it started.
 *
 *   0 platform      src/platform/**, src/config.ts: no domain knowledge
 *   1 pure          models, schemas, views, the webhook event contract: no database, no I/O
 *   2 repositories  every query
 *   3 services      services, effects, batchers, plugins, the resolver, verify, the registry, event files, the pipeline
 *   4 routes        HTTP routes
 *   5 entry points  jobs, app, server, the OpenAPI document
 *
 * A new file whose name fits no pattern fails the test, so the table stays complete.
 */
const LAYERS: Array<[number, RegExp]> = [
  [0, /^platform\//],
  [0, /^config\.ts$/],
  [1, /^modules\/[^/]+\/([a-z-]+-)?(model|schemas|views)\.ts$/],
  [1, /^webhooks\/(schemas|event)\.ts$/],
  [2, /^modules\/[^/]+\/([a-z-]+-)?repository\.ts$/],
  [2, /^webhooks\/repository\.ts$/],
  [3, /^modules\/[^/]+\/([a-z-]+-)?(service|effects|batcher|plugin|access|resolver|webhook-endpoints)\.ts$/],
  [3, /^webhooks\/(verify|registry|event-objects)\.ts$/],
  [3, /^webhooks\/(events|pipeline)\/[^/]+\.ts$/],
  [4, /^modules\/[^/]+\/([a-z-]+-)?routes\.ts$/],
  [4, /^webhooks\/(route|admin-routes)\.ts$/],
  [5, /^jobs\/[^/]+\.ts$/],
  [5, /^(app|server|openapi-document)\.ts$/],
]
const NAMES = ['platform', 'pure', 'repositories', 'services', 'routes', 'entry points']

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../src')

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : []
  })
}

function layerOf (file: string): number | undefined {
  return LAYERS.find(([, pattern]) => pattern.test(file))?.[0]
}

/** The files under src/ a file imports (static imports, re-exports and dynamic imports alike). */
function importsOf (file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true)
  return importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => relative(SRC, resolve(SRC, dirname(file), name)))
    .filter((target) => !target.startsWith('..'))
}

const files = sourceFiles(SRC).sort()
const graph = new Map(files.map((file) => [file, importsOf(file)]))

/** Every cycle, each reported once, found by depth-first search over the import graph. */
function cycles (graph: Map<string, string[]>): string[][] {
  const found: string[][] = []
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (file: string) => {
    state.set(file, 'open')
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...path.slice(path.indexOf(next)), next])
      else if (!state.has(next)) visit(next)
    }
    path.pop()
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file)
  return found
}

t.test('the layer table names every file in src/', async (t) => {
  t.ok(files.length > 50, `${files.length} files read`)
  t.same(files.filter((file) => layerOf(file) === undefined), [], 'files no pattern places')
})

t.test('every import in src/ points to its own layer or a lower one', async (t) => {
  const upward: string[] = []
  const missing: string[] = []
  let checked = 0
  for (const [file, targets] of graph) {
    const from = layerOf(file)
    for (const target of targets) {
      if (!graph.has(target)) missing.push(`${file} imports ${target}`)
      const to = layerOf(target)
      if (from === undefined || to === undefined) continue
      checked += 1
      if (to > from) upward.push(`${file} (${NAMES[from]}) imports ${target} (${NAMES[to]})`)
    }
  }
  t.ok(checked > 200, `${checked} imports checked`)
  t.same(missing, [], 'imports of files that are not there')
  t.same(upward, [], 'imports that point up a layer')
})

t.test('platform/ knows no domain: it imports nothing from modules/ or webhooks/', async (t) => {
  const leaks = [...graph].flatMap(([file, targets]) => file.startsWith('platform/')
    ? targets.filter((target) => !target.startsWith('platform/') && target !== 'config.ts').map((target) => `${file} imports ${target}`)
    : [])
  t.same(leaks, [])
})

t.test('no import closes a cycle', async (t) => {
  t.same(cycles(graph).map((cycle) => cycle.join(' -> ')), [])
})

t.test('the checks catch what they look for', async (t) => {
  // The same functions over made-up names and a made-up graph: a cycle is found, so an empty answer
  // above means there are none, not that nothing was looked at.
  t.equal(layerOf('modules/payments/list-repository.ts'), 2)
  t.equal(layerOf('modules/payments/checkout-routes.ts'), 4)
  t.equal(layerOf('webhooks/events/invoice-paid.ts'), 3)
  t.equal(layerOf('modules/credits/unknown-thing.ts'), undefined)
  const made = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts']], ['c.ts', ['a.ts']], ['d.ts', ['a.ts']]])
  t.same(cycles(made), [['a.ts', 'b.ts', 'c.ts', 'a.ts']])
})
