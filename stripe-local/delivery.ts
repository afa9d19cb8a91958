import { createHmac } from 'node:crypto'
import { request } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { Account, DeliveryOptions, EventRec, WebhookEndpointRec } from './store.ts'
import { API_VERSION } from './objects/index.ts'
import { renderEvent } from './objects/misc.ts'

export interface DeliveryRecord {
  event_id: string; type: string; url: string; attempts: number
  status: 'pending' | 'delivered' | 'failed'; last_status_code: number | null
}

export interface RetryOptions { maxAttempts: number; baseDelayMs: number }

interface Job { accountId: string; url: string; secret: string; body: string; record: DeliveryRecord }

/** `v1` of Stripe's scheme: hex HMAC-SHA256 keyed by the whole `whsec_…` string over `${t}.${payload}`. */
export function signPayload (secret: string, timestamp: number, payload: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(payload).digest('hex')
}

export function signatureHeader (secret: string, timestamp: number, payload: string): string {
  return `t=${timestamp},v1=${signPayload(secret, timestamp, payload)}`
}

function post (url: string, body: string, headers: Record<string, string>, timeoutMs: number): Promise<number | null> {
  return new Promise(resolve => {
    const target = new URL(url)
    const send = target.protocol === 'https:' ? httpsRequest : request
    // no keep-alive: a receiver that closes between tests must not inherit pooled sockets
    const req = send(target, { method: 'POST', agent: false, timeout: timeoutMs, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, res => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? null))
      res.on('error', () => resolve(null))
    })
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(null))
    req.end(body)
  })
}

const sleep = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/**
 * Per-account FIFO of webhook sends. First attempts go out one at a time in creation order (or a
 * whole queued batch permuted, with `shuffle`); retries are scheduled beside the queue with
 * exponential backoff so that one failing endpoint does not hold the others back.
 */
export class Delivery {
  private readonly queues = new Map<string, Job[]>()
  private readonly draining = new Set<string>()
  private readonly records = new Map<string, DeliveryRecord[]>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly waiters: Array<() => void> = []
  private pending = 0
  private closed = false

  constructor (private readonly retry: RetryOptions, private readonly timeoutMs = 10_000) {}

  enqueue (account: Account, event: EventRec, endpoints: WebhookEndpointRec[]): void {
    if (this.closed) return
    const queue = this.queues.get(account.id) ?? []
    this.queues.set(account.id, queue)
    for (const endpoint of endpoints) {
      // pretty-printed like Stripe's payloads; the endpoint's pinned version decides api_version
      const body = JSON.stringify(renderEvent(event, endpoint.apiVersion ?? API_VERSION), null, 2)
      if (endpoint.dropDeliveries) {
        // An endpoint that is down: nothing is sent, and Stripe counts the delivery as failed.
        this.recordsOf(account.id).push({ event_id: event.id, type: event.type, url: endpoint.url, attempts: 0, status: 'failed', last_status_code: null })
        continue
      }
      const copies = account.delivery.duplicate > 0 && Math.random() < account.delivery.duplicate ? 2 : 1
      for (let i = 0; i < copies; i++) {
        const record: DeliveryRecord = { event_id: event.id, type: event.type, url: endpoint.url, attempts: 0, status: 'pending', last_status_code: null }
        this.recordsOf(account.id).push(record)
        queue.push({ accountId: account.id, url: endpoint.url, secret: endpoint.secret, body, record })
        this.pending++
      }
    }
    this.kick(account)
  }

  deliveries (accountId: string): DeliveryRecord[] {
    return this.recordsOf(accountId).map(r => ({ ...r }))
  }

  /** Ids of the account's events with a delivery that failed or is still pending (Stripe's `delivery_success=false`). */
  undelivered (accountId: string): Set<string> {
    const out = new Set<string>()
    for (const r of this.recordsOf(accountId)) if (r.status !== 'delivered') out.add(r.event_id)
    return out
  }

  idle (): Promise<void> {
    if (this.pending === 0) return Promise.resolve()
    return new Promise(resolve => this.waiters.push(resolve))
  }

  close (): void {
    this.closed = true
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    this.queues.clear()
    this.pending = 0
    this.settle()
  }

  private recordsOf (accountId: string): DeliveryRecord[] {
    const list = this.records.get(accountId) ?? []
    this.records.set(accountId, list)
    return list
  }

  private kick (account: Account): void {
    if (this.draining.has(account.id)) return
    this.draining.add(account.id)
    // wait a tick so that all events of one API call form one batch (what `shuffle` permutes)
    setImmediate(() => { void this.drain(account.id, account.delivery) })
  }

  private async drain (accountId: string, options: DeliveryOptions): Promise<void> {
    const queue = this.queues.get(accountId) ?? []
    while (queue.length > 0 && !this.closed) {
      const batch = queue.splice(0)
      if (options.shuffle) shuffleInPlace(batch)
      for (const job of batch) {
        if (options.delay_ms > 0) await sleep(options.delay_ms)
        if (this.closed) return
        await this.attempt(job)
      }
    }
    this.draining.delete(accountId)
  }

  private async attempt (job: Job): Promise<void> {
    job.record.attempts++
    const t = Math.floor(Date.now() / 1000)
    const status = await post(job.url, job.body, {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': signatureHeader(job.secret, t, job.body),
      'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)',
      'cache-control': 'no-cache',
      accept: '*/*; q=0.5, application/xml',
    }, this.timeoutMs)
    if (this.closed) return
    job.record.last_status_code = status
    if (status !== null && status >= 200 && status < 300) return this.finish(job, 'delivered')
    if (job.record.attempts >= this.retry.maxAttempts) return this.finish(job, 'failed')
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      void this.attempt(job)
    }, this.retry.baseDelayMs * 2 ** (job.record.attempts - 1))
    this.timers.add(timer)
  }

  private finish (job: Job, status: 'delivered' | 'failed'): void {
    job.record.status = status
    this.pending--
    this.settle()
  }

  private settle (): void {
    if (this.pending > 0) return
    for (const resolve of this.waiters.splice(0)) resolve()
  }
}

function shuffleInPlace<T> (items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const a = items[i] as T
    items[i] = items[j] as T
    items[j] = a
  }
}
