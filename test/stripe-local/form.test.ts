import t from 'tap'
import fc from 'fast-check'
import { parseForm } from '../../stripe-local/index.ts'
import type { Param } from '../../stripe-local/form.ts'

t.test('bracket notation: nested hashes, indexed arrays, empty-bracket arrays, encoded brackets', async t => {
  t.same(parseForm('metadata[tenant_id]=t1&line_items[0][price]=price_1&line_items[0][quantity]=2&line_items[1][price]=price_2'), {
    metadata: { tenant_id: 't1' },
    line_items: [{ price: 'price_1', quantity: '2' }, { price: 'price_2' }],
  })
  t.same(parseForm('expand[]=a&expand[]=b.c'), { expand: ['a', 'b.c'] })
  t.same(parseForm('expand%5B0%5D=latest_invoice&a%5Bb%5D%5Bc%5D=%20x%2Ay'), { expand: ['latest_invoice'], a: { b: { c: ' x*y' } } })
  t.same(parseForm('description=&email=a%2Bb%40example.com'), { description: '', email: 'a+b@example.com' }, 'empty means unset')
  t.same(parseForm('items[10][price]=b&items[2][price]=a'), { items: [{ price: 'a' }, { price: 'b' }] }, 'index order, not wire order')
  t.same(parseForm('__proto__[polluted]=1&a[constructor][x]=2'), { a: {} })
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

/** The SDK's encoder, as README.md describes stripe-node's `stringifyRequestData`. */
function encode (value: Param, prefix = ''): string[] {
  if (typeof value === 'string') {
    const esc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    return [`${prefix.replace(/[^[\]]+/g, esc)}=${esc(value)}`]
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value)
  return entries.flatMap(([k, v]) => encode(v, prefix ? `${prefix}[${k}]` : k))
}

t.test('parseForm inverts the SDK encoding for any nested params', async t => {
  const key = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/).filter(k => !['__proto__', 'constructor', 'prototype'].includes(k))
  const { tree } = fc.letrec<{ tree: Param }>(tie => ({
    tree: fc.oneof({ depthSize: 'small', withCrossShrink: true },
      fc.string({ minLength: 1 }),
      fc.array(tie('tree'), { minLength: 1, maxLength: 3 }),
      fc.dictionary(key, tie('tree'), { minKeys: 1, maxKeys: 3 })),
  }))
  const root = fc.dictionary(key, tree, { minKeys: 1, maxKeys: 4 })
  fc.assert(fc.property(root, params => {
    t.same(parseForm(encode(params).join('&')), params)
  }), { numRuns: 300 })
})
