import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * A closed-loop HTTP/1.1 load generator, like autocannon's: `connections` keep-alive connections,
 * each sending its next request when the previous response is complete. Requests are prepared as raw
 * bytes up front and responses are parsed only as far as the status line and Content-Length, so the
 * generator's own CPU per request stays small. On a 2-core machine the generator shares the cores
 * with the service and the database, so its cost counts; autocannon's per-request work was far
 * heavier (figures in bench/RESULTS.md).
 */
export interface RawRequest { method: 'POST' | 'GET', path: string, headers: Record<string, string>, body?: string }

export interface LoadResult {
  sent: number
  /** Milliseconds from the first request to the last response. */
  elapsedMs: number
  /** Per request, in milliseconds, sorted. */
  latencies: Float64Array
  statuses: Map<number, number>
  errors: number
}

export function encodeRequest (host: string, r: RawRequest): Buffer {
  const body = r.body === undefined ? undefined : Buffer.from(r.body)
  const lines = [`${r.method} ${r.path} HTTP/1.1`, `host: ${host}`, 'connection: keep-alive']
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`)
  if (body) lines.push(`content-length: ${body.length}`)
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)
  return body ? Buffer.concat([head, body]) : head
}

const HEADER_END = Buffer.from('\r\n\r\n')
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i

/** The first complete HTTP/1.1 message in `buffered` (head as text; the body is skipped), or null while it is incomplete. */
function nextMessage (buffered: Buffer): { head: string, rest: Buffer } | null {
  const end = buffered.indexOf(HEADER_END)
  if (end < 0) return null
  const head = buffered.subarray(0, end).toString('latin1')
  const length = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0)
  if (buffered.length < end + 4 + length) return null
  return { head, rest: buffered.subarray(end + 4 + length) }
}

/**
 * Sends every request once over `connections` connections (spread over `urls`, several instances of
 * one service behind no load balancer); answers when the last response arrived.
 */
export async function runLoad (urls: string | readonly string[], requests: readonly RawRequest[], connections: number, timeoutMs = 60_000): Promise<LoadResult> {
  const targets = (typeof urls === 'string' ? [urls] : urls).map((u) => new URL(u))
  const first = targets[0]
  if (!first) throw new Error('load: no target')
  // The Host header does not steer anything here: every instance serves every request.
  const encoded = requests.map((r) => encodeRequest(`${first.hostname}:${first.port}`, r))
  const latencies = new Float64Array(encoded.length)
  const statuses = new Map<number, number>()
  let next = 0
  let done = 0
  let errors = 0
  const started = performance.now()
  let last = started

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`load: ${done}/${encoded.length} answered after ${timeoutMs} ms`)), timeoutMs)
    const finish = () => { if (done === encoded.length) { clearTimeout(timer); resolve() } }
    const open = (target: URL): void => {
      const socket: Socket = connect({ host: target.hostname, port: Number(target.port), noDelay: true })
      let buffered: Buffer = Buffer.alloc(0)
      let current = -1
      let sentAt = 0
      const send = () => {
        if (next >= encoded.length) { socket.end(); return }
        current = next++
        sentAt = performance.now()
        socket.write(encoded[current] as Buffer)
      }
      socket.on('connect', send)
      socket.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        for (let message = nextMessage(buffered); message; message = nextMessage(buffered)) {
          buffered = message.rest
          const status = Number(message.head.slice(9, 12))
          const now = performance.now()
          latencies[current] = now - sentAt
          last = now
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
          done++
          finish()
          send()
        }
      })
      socket.on('error', () => {
        errors++
        if (current >= 0 && latencies[current] === 0) { done++; finish() }
        if (next < encoded.length) open(target)
      })
    }
    for (let i = 0; i < Math.min(connections, encoded.length); i++) open(targets[i % targets.length] as URL)
  })
  return { sent: encoded.length, elapsedMs: last - started, latencies: latencies.sort(), statuses, errors }
}

/**
 * Open loop: request i is due at `start + i / rate`, whatever became of the ones before it (a closed
 * loop slows down with the service, so it never sees a queue build up). A due request goes out on an
 * idle keep-alive connection, or a new one when none is idle (at most `maxConnections`; past that it
 * waits, and the wait counts). Latency runs from when the request was due, not from when it was
 * written, so a stall shows in full (no coordinated omission).
 */
export async function runPaced (url: string, requests: readonly RawRequest[], ratePerSecond: number, maxConnections = 512, timeoutMs = 120_000): Promise<LoadResult & { connections: number, late: Float64Array }> {
  const target = new URL(url)
  const encoded = requests.map((r) => encodeRequest(`${target.hostname}:${target.port}`, r))
  const latencies = new Float64Array(encoded.length)
  /** How long after it was due each request was written: the generator's own lag (it shares the cores), or no idle connection. */
  const late = new Float64Array(encoded.length)
  const statuses = new Map<number, number>()
  const interval = 1000 / ratePerSecond
  interface Connection { socket: Socket, current: number, buffered: Buffer }
  const idle: Connection[] = []
  let opened = 0
  let next = 0
  let done = 0
  let errors = 0
  let started = 0
  let last = 0
  let timer: NodeJS.Timeout | undefined

  const connection = (): Promise<Connection> => new Promise((resolve, reject) => {
    const c: Connection = { socket: connect({ host: target.hostname, port: Number(target.port), noDelay: true }), current: -1, buffered: Buffer.alloc(0) }
    opened++
    c.socket.once('connect', () => resolve(c))
    c.socket.once('error', reject)
  })

  await new Promise<void>((resolve, reject) => {
    const deadline = setTimeout(() => { clearTimeout(timer); reject(new Error(`paced load: ${done}/${encoded.length} answered after ${timeoutMs} ms`)) }, timeoutMs)
    const finished = () => {
      if (done < encoded.length) return
      clearTimeout(deadline)
      clearTimeout(timer)
      for (const c of idle) c.socket.end()
      resolve()
    }
    const answered = (c: Connection, status: number | null) => {
      const now = performance.now()
      latencies[c.current] = now - (started + c.current * interval)
      last = now
      if (status === null) errors++
      else statuses.set(status, (statuses.get(status) ?? 0) + 1)
      c.current = -1
      done++
    }
    const attach = (c: Connection) => {
      c.socket.on('data', (chunk: Buffer) => {
        c.buffered = c.buffered.length === 0 ? chunk : Buffer.concat([c.buffered, chunk])
        const message = nextMessage(c.buffered)
        if (!message || c.current < 0) return
        c.buffered = message.rest
        answered(c, Number(message.head.slice(9, 12)))
        idle.push(c)
        finished()
        tick()
      })
      c.socket.on('error', () => { if (c.current >= 0) { answered(c, null); finished(); tick() } })
      c.socket.on('close', () => { const i = idle.indexOf(c); if (i >= 0) idle.splice(i, 1) })
    }
    const tick = () => {
      clearTimeout(timer)
      const now = performance.now()
      while (next < encoded.length && started + next * interval <= now) {
        const c = idle.pop()
        if (!c) {
          if (opened < maxConnections) {
            connection().then((fresh) => { attach(fresh); idle.push(fresh); tick() }, () => { errors++ })
          }
          break
        }
        c.current = next++
        late[c.current] = now - (started + c.current * interval)
        c.socket.write(encoded[c.current] as Buffer)
      }
      if (next < encoded.length && idle.length > 0) timer = setTimeout(tick, Math.max(0, started + next * interval - performance.now()))
    }
    // Connections open before the clock starts, as a client's pool would be.
    Promise.all(Array.from({ length: Math.min(64, maxConnections) }, connection)).then((pool) => {
      for (const c of pool) { attach(c); idle.push(c) }
      started = performance.now()
      tick()
    }, reject)
  })
  return { sent: encoded.length, elapsedMs: last - started, latencies: latencies.sort(), statuses, errors, connections: opened, late: late.sort() }
}

export const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number

/**
 * A minimal HTTP/1.1 responder on raw sockets, for stubs whose own cost must not weigh on a
 * measurement: `answer` maps a request line's path to a status and JSON body.
 */
export async function rawHttpServer (answer: (method: string, path: string) => { status: number, body: string }): Promise<{ url: string, close (): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.setNoDelay(true)
    let buffered: Buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      for (let message = nextMessage(buffered); message; message = nextMessage(buffered)) {
        buffered = message.rest
        const [method = '', path = ''] = message.head.slice(0, message.head.indexOf('\r\n')).split(' ')
        const { status, body } = answer(method, path)
        const bytes = Buffer.from(body)
        socket.write(`HTTP/1.1 ${status} ${status === 200 ? 'OK' : 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${bytes.length}\r\nconnection: keep-alive\r\n\r\n${body}`)
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }),
  }
}
