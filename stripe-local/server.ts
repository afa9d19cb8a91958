import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { matchRoute } from './api.ts'
import { Delivery, type RetryOptions } from './delivery.ts'
import { authError, invalidRequest, StripeError } from './errors.ts'
import { createOpCtx } from './events.ts'
import { parseForm, Reader, type Params } from './form.ts'
import { requestId } from './ids.ts'
import type { JsonObject } from './json.ts'
import { handleLocal, type LocalDeps } from './local-routes.ts'
import { API_VERSION, expand } from './objects/index.ts'
import { Store } from './store.ts'

export interface ServerOptions { port?: number; host?: string; retry?: Partial<RetryOptions> }

export interface Reply { status: number; body: string; headers?: Record<string, string>; contentType?: string }

const json = (status: number, body: JsonObject, headers: Record<string, string> = {}): Reply =>
  ({ status, body: JSON.stringify(body, null, 2), headers })

function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/** Bearer, as the SDK sends, or Basic with the key as user name, which Stripe also accepts. */
function apiKeyOf (req: IncomingMessage): string | null {
  const header = req.headers.authorization
  if (!header) return null
  const [scheme, value = ''] = header.split(' ', 2)
  if (scheme?.toLowerCase() === 'bearer') return value.trim()
  if (scheme?.toLowerCase() === 'basic') return Buffer.from(value, 'base64').toString('utf8').split(':')[0] ?? ''
  return value
}

function parseBody (raw: string, contentType: string | undefined): Params {
  if (!raw) return {}
  if (contentType?.includes('application/json')) {
    // the _local routes also take JSON: flatten it through the same shape as forms
    const value: unknown = JSON.parse(raw)
    const toParam = (v: unknown): Params[string] => Array.isArray(v) ? v.map(toParam)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toParam(x)]))
        : v === null ? '' : String(v)
    const params = toParam(value)
    return typeof params === 'object' && !Array.isArray(params) ? params : {}
  }
  return parseForm(raw)
}

export class LocalServer {
  readonly store = new Store()
  readonly delivery: Delivery
  private readonly server: Server
  url = ''
  port = 0

  constructor (private readonly options: ServerOptions = {}) {
    this.delivery = new Delivery({ maxAttempts: options.retry?.maxAttempts ?? 8, baseDelayMs: options.retry?.baseDelayMs ?? 200 })
    this.server = createServer((req, res) => { void this.handle(req, res) })
    this.server.keepAliveTimeout = 5_000
  }

  async listen (): Promise<void> {
    const host = this.options.host ?? '127.0.0.1'
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.options.port ?? 12111, host, () => resolve())
    })
    this.port = (this.server.address() as AddressInfo).port
    const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
    this.url = `http://${shownHost}:${this.port}`
  }

  async close (): Promise<void> {
    this.delivery.close()
    await new Promise<void>(resolve => {
      this.server.close(() => resolve())
      this.server.closeAllConnections()
    })
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reqId = requestId()
    let reply: Reply
    try {
      const url = new URL(req.url ?? '/', 'http://local')
      const raw = await readBody(req)
      const query = parseForm(url.search.slice(1))
      const method = req.method ?? 'GET'
      if (url.pathname.startsWith('/_local/')) {
        const deps: LocalDeps = { store: this.store, delivery: this.delivery, baseUrl: this.url }
        const body = { ...query, ...parseBody(raw, req.headers['content-type']) }
        reply = await handleLocal(deps, method, url.pathname, new Reader(body))
      } else {
        reply = this.api(req, method, url.pathname, { ...query, ...parseForm(raw) }, reqId)
      }
    } catch (error) {
      reply = this.failure(error, reqId)
    }
    res.writeHead(reply.status, {
      'content-type': reply.contentType ?? 'application/json',
      'request-id': reqId,
      'stripe-version': API_VERSION,
      ...(reply.status >= 400 && reply.status < 500 && reply.status !== 409 ? { 'stripe-should-retry': 'false' } : {}),
      ...reply.headers,
    })
    res.end(reply.body)
  }

  private failure (error: unknown, reqId: string): Reply {
    if (error instanceof StripeError) return json(error.status, error.body(reqId))
    if (error instanceof SyntaxError) return json(400, invalidRequest('Invalid request body.').body(reqId))
    console.error('stripe-local: unexpected error', error)
    return json(500, new StripeError(500, 'api_error', 'An unknown error occurred in stripe-local.').body(reqId))
  }

  private api (req: IncomingMessage, method: string, path: string, params: Params, reqId: string): Reply {
    const key = apiKeyOf(req)
    if (key !== null && /^pk_(test|live)_/.test(key)) {
      throw new StripeError(401, 'invalid_request_error', 'This API call cannot be made with a publishable API key. Please use a secret API key. You can find a list of your API keys at https://dashboard.stripe.com/account/apikeys.')
    }
    const auth = key ? this.store.bySecretKey(key) : undefined
    if (!auth) throw authError(key)
    const { account, mode } = auth
    if (account.rateLimit.remaining > 0) {
      account.rateLimit.remaining--
      const error = new StripeError(429, 'invalid_request_error', 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.', 'rate_limit')
      return { ...json(429, error.body(reqId)), headers: { 'retry-after': String(account.rateLimit.retryAfter) } }
    }
    const connected = req.headers['stripe-account']
    if (typeof connected === 'string' && connected !== account.id) {
      throw new StripeError(403, 'invalid_request_error', `The provided key '${key?.slice(0, 8)}****${key?.slice(-4)}' does not have access to account '${connected}' (or that account does not exist). Application access may have been revoked.`, 'account_invalid')
    }
    const route = matchRoute(method, path)
    if (!route || !('handler' in route)) {
      throw new StripeError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`)
    }
    const idempotencyKey = method === 'POST' ? req.headers['idempotency-key'] : undefined
    const st = account.modes[mode]
    const fingerprint = `${method} ${path} ${JSON.stringify(params)}`
    if (typeof idempotencyKey === 'string') {
      const stored = st.idempotency.get(idempotencyKey)
      if (stored) {
        if (stored.fingerprint !== fingerprint) {
          throw new StripeError(400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`)
        }
        return { status: stored.status, body: stored.body, headers: { 'idempotent-replayed': 'true', 'original-request': stored.requestId } }
      }
    }
    const ctx = createOpCtx(this.delivery, this.url, account, mode, { id: reqId, idempotency_key: typeof idempotencyKey === 'string' ? idempotencyKey : null })
    const reader = new Reader(params)
    let reply: Reply
    try {
      const result = route.handler({ ctx, p: reader, ids: route.ids })
      reply = json(200, expand(result, reader.strings('expand'), ctx))
    } catch (error) {
      reply = this.failure(error, reqId)
    }
    // Stripe saves the outcome of any request that started executing, errors included, but not 500s
    if (typeof idempotencyKey === 'string' && reply.status !== 500) {
      st.idempotency.set(idempotencyKey, { fingerprint, status: reply.status, body: reply.body, requestId: reqId })
    }
    return reply
  }
}
