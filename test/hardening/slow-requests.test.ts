import { connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildTestApp, createProject, newDeveloper } from '../helpers/app.ts'

interface Slow { socket: Socket, closedAt: Promise<number>, received: () => string, stop: () => void }

/** A real socket that sends the headers of a webhook POST, then one byte of its body every `everyMs`. */
function dribble (port: number, path: string, everyMs: number): Slow {
  const socket = connect(port, '127.0.0.1')
  let data = ''
  socket.on('data', (chunk) => { data += chunk.toString() })
  socket.on('error', () => {})
  const timer = setInterval(() => { if (!socket.destroyed) socket.write('x') }, everyMs)
  socket.on('connect', () => {
    socket.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nStripe-Signature: t=1,v1=00\r\nContent-Length: 100000\r\n\r\n{`)
  })
  const closedAt = new Promise<number>((resolve) => socket.on('close', () => { clearInterval(timer); resolve(Date.now()) }))
  return { socket, closedAt, received: () => data, stop: () => { clearInterval(timer); socket.destroy() } }
}

t.test('bodies dribbled a byte at a time are cut off at REQUEST_TIMEOUT_MS, and sockets are bounded by MAX_CONNECTIONS', async (t) => {
  const app = await buildTestApp(t, { env: { REQUEST_TIMEOUT_MS: '1500', HEADERS_TIMEOUT_MS: '1000', MAX_CONNECTIONS: '6' } })
  const project = await createProject(app, newDeveloper())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const path = `/api/v1/payments/stripe/webhooks/${project.id}/test`

  const started = Date.now()
  const slow = Array.from({ length: 6 }, () => dribble(port, path, 200))
  t.teardown(() => { for (const s of slow) s.stop() })
  await new Promise((resolve) => setTimeout(resolve, 300))

  // Six sockets are open: a seventh connection is refused at once.
  const extra = connect(port, '127.0.0.1')
  extra.on('error', () => {})
  const extraClosed = await Promise.race([
    new Promise<boolean>((resolve) => extra.on('close', () => resolve(true))),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1000)),
  ])
  extra.destroy()
  t.ok(extraClosed, 'a connection beyond MAX_CONNECTIONS is closed')

  const closed = await Promise.race([
    Promise.all(slow.map((s) => s.closedAt)),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 8000)),
  ])
  t.ok(closed, 'every slow request was closed')
  if (closed) {
    for (const at of closed) t.ok(at - started < 1500 + 2500, `closed ${at - started} ms after it started`)
  }
  t.match(slow[0]?.received() ?? '', /^HTTP\/1\.1 408/, 'answered 408 Request Timeout')

  // The service still answers once the slow sockets are gone.
  const res = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(res.status, 200)
})

t.test('headers that never finish are cut off at HEADERS_TIMEOUT_MS', async (t) => {
  const app = await buildTestApp(t, { env: { REQUEST_TIMEOUT_MS: '5000', HEADERS_TIMEOUT_MS: '1000' } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as AddressInfo
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  const started = Date.now()
  socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n'))
  const timer = setInterval(() => socket.write('X-A: b\r\n'), 200)
  t.teardown(() => { clearInterval(timer); socket.destroy() })
  const at = await new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())))
  clearInterval(timer)
  t.ok(at - started < 1000 + 2500, `closed ${at - started} ms after the first header line`)
})
