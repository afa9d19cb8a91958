import Stripe from 'stripe'
import type { FastifyBaseLogger } from 'fastify'
import type { Db } from '../../platform/db/client.ts'
import { AppError, badRequest, notFound } from '../../platform/http/errors.ts'
import type { Mode } from '../../platform/stripe/client.ts'
import { fromStripeError, isStripeError } from '../../platform/stripe/errors.ts'
import { unixNow } from '../../platform/time.ts'
import { ownedProject } from '../projects/service.ts'
import type { StripeResolver } from '../stripe-accounts/resolver.ts'
import { notConfigured } from '../stripe-accounts/access.ts'
import { HANDLED_EVENT_TYPES } from '../../webhooks/registry.ts'
import { checkEvent, WebhookVerificationError } from '../../webhooks/verify.ts'
import { readEventStatuses, isSettledStatus } from '../../webhooks/repository.ts'
import { applyState, processEvent, shortError, WebhookProcessingError } from '../../webhooks/pipeline/process.ts'
import { OBJECT_KINDS, SYNC_READS_PER_SECOND, cursorText, parseCursor, parseSince, stateEvents, type ObjectKind, type SyncCursor } from './model.ts'
import { claimSync, findSync, findUnfinished, finishSync, insertSync, saveProgress, type StripeSyncRow, type SyncProgress } from './repository.ts'

export interface StripeSyncDeps {
  db: Db
  resolver: StripeResolver
  log: FastifyBaseLogger
  /** This instance's id: the owner written on the syncs it runs. */
  owner: string
  /** A running sync whose heartbeat is older than this is taken over by the next request (its instance died). */
  staleSeconds?: number
  readsPerSecond?: Partial<Record<Mode, number>>
}

export interface SyncRequest { since?: string | undefined, full?: boolean | undefined }
export type SyncOutcome = 'started' | 'resumed' | 'already_running'

/** Events in one window of the events list at most: a denser window is split in two and listed again. */
const MAX_WINDOW_EVENTS = 2_000
const FIRST_WINDOW_SECONDS = 6 * 3600
const MAX_WINDOW_SECONDS = 31 * 86_400
/** The failed deliveries replayed first, at most (the events list that follows covers every event anyway). */
const MAX_FAILED_DELIVERIES = 10_000
const PAGE = 100
/** Progress (and the heartbeat) is saved at least this often. */
const SAVE_EVERY_MS = 1_000
const SAVE_EVERY_EVENTS = 50
const MAX_RATE_LIMIT_RETRIES = 10
const MAX_BACKOFF_MS = 30_000

class Interrupted extends Error {}
const UNINTERRUPTED = new AbortController().signal
class LostOwnership extends Error {}

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(new Interrupted())
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(new Interrupted()) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Spaces reads evenly at `perSecond`, so a sync never bursts past Stripe's rate limit. */
class Pacer {
  private next = 0
  constructor (private readonly intervalMs: number) {}
  async take (signal: AbortSignal): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.next)
    this.next = at + this.intervalMs
    if (at > now) await sleep(at - now, signal)
  }
}

const isRateLimited = (err: unknown): err is Stripe.errors.StripeError =>
  err instanceof Stripe.errors.StripeRateLimitError || (isStripeError(err) && err.statusCode === 429)

/** Stripe's Retry-After (seconds), else exponential backoff from one second; at most 30 s. */
function backoffMs (err: Stripe.errors.StripeError, attempt: number): number {
  const header = err.headers?.['retry-after']
  const seconds = typeof header === 'string' ? Number(header) : Number.NaN
  const ms = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : 1000 * 2 ** attempt
  return Math.min(MAX_BACKOFF_MS, Math.max(ms, 100))
}

/** An AppError's code for the sync's error column; never a key (Stripe's messages are not kept). */
function syncError (err: unknown): string {
  if (err instanceof AppError) return `${err.code}: ${err.message}`.slice(0, 500)
  if (isStripeError(err)) {
    const mapped = fromStripeError(err)
    return `${mapped.code}: ${mapped.message}`.slice(0, 500)
  }
  return shortError(err)
}

interface Running { controller: AbortController, done: Promise<void> }

/**
 * Resync after missed webhooks: replays Stripe's events through the webhook pipeline (processEvent:
 * the same definitions, record and guards; an event already recorded is skipped), the managed
 * endpoint's failed deliveries first, then the events list in `created` order, and with `full` the
 * subscriptions, invoices, payment intents and charges as they are now (applyState). One sync per
 * project and mode at a time across instances (the row's partial unique index); its cursor is saved
 * as it goes, so an interrupted one resumes where it stopped.
 */
export function createStripeSyncService (deps: StripeSyncDeps) {
  const { db, resolver, log, owner } = deps
  const staleSeconds = deps.staleSeconds ?? 120
  const running = new Map<string, Running>()

  async function request (developerId: string | null, projectId: string, mode: Mode, body: SyncRequest): Promise<{ row: StripeSyncRow, outcome: SyncOutcome }> {
    if (developerId !== null) await ownedProject(db, developerId, projectId)
    const since = parseSince(body.since, unixNow())
    if ('error' in since) throw badRequest(since.error, since.detail)
    const resolved = await resolver.resolve(projectId, mode)
    if (!resolved) throw developerId === null ? notFound('stripe configuration') : notConfigured(mode)
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = await findUnfinished(db, projectId, mode)
      if (existing) {
        if (running.has(existing.id)) return { row: existing, outcome: 'already_running' }
        const claimed = await claimSync(db, existing.id, owner, staleSeconds)
        if (!claimed) return { row: existing, outcome: 'already_running' }
        launch(claimed)
        return { row: claimed, outcome: 'resumed' }
      }
      const created = await insertSync(db, { projectId, mode, since: since.since, full: body.full ?? false, cursor: cursorText({ phase: 'failed_deliveries' }), owner })
      if (created) {
        launch(created)
        return { row: created, outcome: 'started' }
      }
      // Another request (maybe on another instance) inserted one meanwhile: answer that one.
    }
    throw new AppError(409, 'sync_conflict', 'Conflict', 'Another sync of this project and mode started and ended meanwhile; try again')
  }

  function launch (row: StripeSyncRow): void {
    const controller = new AbortController()
    const done = run(row, controller.signal).finally(() => running.delete(row.id))
    running.set(row.id, { controller, done })
  }

  async function run (row: StripeSyncRow, signal: AbortSignal): Promise<void> {
    const mode = row.mode as Mode
    const pending: Required<Omit<SyncProgress, 'cursor'>> = { eventsListed: 0, eventsApplied: 0, eventsSkipped: 0, eventsFailed: 0, failedDeliveriesReplayed: 0, objectsApplied: 0, stripeReads: 0, rateLimited: 0 }
    let cursor: SyncCursor = parseCursor(row.cursor)
    let savedAt = Date.now()
    let unsaved = 0
    const pacer = new Pacer(1000 / (deps.readsPerSecond?.[mode] ?? SYNC_READS_PER_SECOND[mode]))

    const save = async (force = false): Promise<void> => {
      if (!force && unsaved < SAVE_EVERY_EVENTS && Date.now() - savedAt < SAVE_EVERY_MS) return
      const ok = await saveProgress(db, row.id, owner, { cursor: cursorText(cursor), ...pending })
      for (const k of Object.keys(pending) as Array<keyof typeof pending>) pending[k] = 0
      savedAt = Date.now()
      unsaved = 0
      if (!ok) throw new LostOwnership()
    }
    const moveTo = async (next: SyncCursor): Promise<void> => { cursor = next; await save(true) }

    try {
      const resolved = await resolver.resolve(row.projectId, mode)
      if (!resolved) throw notConfigured(mode)
      const project = { id: row.projectId, developerId: resolved.developerId }

      /** One read from Stripe: paced, and on 429 again after Retry-After. */
      const read = async <T>(call: (stripe: Stripe) => Promise<T>): Promise<T> => {
        for (let attempt = 0; ; attempt++) {
          if (signal.aborted) throw new Interrupted()
          await pacer.take(signal)
          pending.stripeReads++
          try {
            return await call(resolved.stripe)
          } catch (err) {
            if (!isRateLimited(err) || attempt >= MAX_RATE_LIMIT_RETRIES) throw err
            pending.rateLimited++
            await save(true)
            await sleep(backoffMs(err, attempt), signal)
          }
        }
      }
      // What an event definition reads from Stripe goes through the same pacing, but is not cut short by an
      // interruption: inside processEvent that would be recorded as the event's failure. The sync stops
      // after the event in hand (replay checks the signal between events).
      const paced = async (): Promise<Stripe> => {
        await pacer.take(UNINTERRUPTED)
        pending.stripeReads++
        return resolved.stripe
      }

      /** Events in `created` order through the webhook pipeline; those already recorded are skipped. */
      const replay = async (events: Stripe.Event[], counter?: 'failedDeliveriesReplayed'): Promise<void> => {
        for (let i = 0; i < events.length; i += PAGE) {
          const chunk = events.slice(i, i + PAGE)
          const statuses = await readEventStatuses(db, chunk.map((e) => ({ projectId: project.id, mode, eventId: e.id })))
          for (const [j, event] of chunk.entries()) {
            if (signal.aborted) throw new Interrupted()
            unsaved++
            if (isSettledStatus(statuses[j])) { pending.eventsSkipped++; continue }
            const outcome = await replayOne(event)
            if (outcome === 'duplicate') pending.eventsSkipped++
            else if (outcome === 'failed') pending.eventsFailed++
            else {
              pending.eventsApplied++
              if (counter) pending[counter]++
            }
            await save()
          }
        }
      }

      const replayOne = async (event: Stripe.Event): Promise<'processed' | 'ignored' | 'duplicate' | 'failed'> => {
        // What verify.ts checks of a delivered event, but the signature: the list came from Stripe with the project's key.
        try {
          checkEvent(event, mode)
        } catch (err) {
          if (!(err instanceof WebhookVerificationError)) throw err
          log.warn({ sync_id: row.id, event_id: event.id, type: event.type, reason: err.reason }, 'stripe sync: not an event this project and mode can apply')
          return 'failed'
        }
        for (let attempt = 0; ; attempt++) {
          try {
            return await processEvent(db, { project, mode, event, payload: JSON.stringify(event), stripe: paced })
          } catch (err) {
            if (!(err instanceof WebhookProcessingError)) throw err
            if (signal.aborted) throw new Interrupted()
            if (isRateLimited(err.cause) && attempt < MAX_RATE_LIMIT_RETRIES) {
              pending.rateLimited++
              await sleep(backoffMs(err.cause, attempt), signal)
              continue
            }
            // Recorded as failed, as a failed delivery is: the next delivery, a replay or the next sync applies it.
            log.error({ err: err.cause, sync_id: row.id, event_id: event.id, type: event.type }, 'stripe sync: event processing failed')
            return 'failed'
          }
        }
      }

      /** Every page of an events listing, newest first as Stripe lists; `cap` stops early (returns null). */
      const listAll = async (params: Stripe.EventListParams, cap: number): Promise<Stripe.Event[] | null> => {
        const out: Stripe.Event[] = []
        let after: string | undefined
        for (;;) {
          const page = await read((stripe) => stripe.events.list({ ...params, limit: PAGE, ...(after ? { starting_after: after } : {}) }))
          out.push(...page.data)
          pending.eventsListed += page.data.length
          after = page.data.at(-1)?.id
          if (!page.has_more || !after) return out
          if (out.length >= cap) return null
          await save()
        }
      }
      const oldestFirst = (events: Stripe.Event[]): Stripe.Event[] => events.reverse().sort((a, b) => a.created - b.created)
      const types = [...HANDLED_EVENT_TYPES] as Stripe.EventListParams['types']

      if (cursor.phase === 'failed_deliveries') {
        // What Stripe could not deliver (the endpoint was down, the secret wrong) goes first.
        const failed = await listAll({ delivery_success: false, created: { gte: row.since }, ...(types ? { types } : {}) }, MAX_FAILED_DELIVERIES)
        if (failed) await replay(oldestFirst(failed), 'failedDeliveriesReplayed')
        await moveTo({ phase: 'events', at: row.since })
      }

      if (cursor.phase === 'events') {
        const end = unixNow() + 1
        let at = cursor.at
        let span = FIRST_WINDOW_SECONDS
        while (at < end) {
          const until = Math.min(end, at + span)
          const events = await listAll({ created: { gte: at, lt: until }, ...(types ? { types } : {}) }, MAX_WINDOW_EVENTS)
          if (events === null && until - at > 1) {
            span = Math.max(1, Math.floor((until - at) / 2))
            continue
          }
          await replay(oldestFirst(events ?? []))
          at = until
          await moveTo({ phase: 'events', at })
          if ((events?.length ?? 0) < MAX_WINDOW_EVENTS / 4) span = Math.min(MAX_WINDOW_SECONDS, span * 2)
        }
        await moveTo(row.full ? { phase: 'objects', kind: OBJECT_KINDS[0], after: null } : { phase: 'done' })
      }

      if (cursor.phase === 'objects') {
        const readAt = unixNow()
        for (const kind of OBJECT_KINDS.slice(OBJECT_KINDS.indexOf(cursor.kind))) {
          let after = cursor.phase === 'objects' && cursor.kind === kind ? cursor.after : null
          for (;;) {
            const page = await read((stripe) => listObjects(stripe, kind, after))
            for (const object of page.data) {
              for (const event of stateEvents(kind, object as unknown as Record<string, unknown>, readAt, mode)) {
                if (signal.aborted) throw new Interrupted()
                await applyState(db, { project, mode, event, stripe: paced })
                pending.objectsApplied++
                unsaved++
              }
            }
            after = page.data.at(-1)?.id ?? null
            if (!page.has_more || !after) break
            await moveTo({ phase: 'objects', kind, after })
          }
          const next = OBJECT_KINDS[OBJECT_KINDS.indexOf(kind) + 1]
          await moveTo(next ? { phase: 'objects', kind: next, after: null } : { phase: 'done' })
        }
      }
      await save(true)
      await finishSync(db, row.id, owner, 'succeeded')
      log.info({ sync_id: row.id, project_id: row.projectId, mode }, 'stripe sync finished')
    } catch (err) {
      if (err instanceof LostOwnership) {
        log.warn({ sync_id: row.id }, 'stripe sync taken over by another instance; this run stops')
        return
      }
      if (err instanceof Interrupted || signal.aborted) {
        await save(true).catch(() => {})
        await finishSync(db, row.id, owner, 'interrupted').catch(() => {})
        log.info({ sync_id: row.id }, 'stripe sync interrupted; the next request resumes it')
        return
      }
      log.error({ err, sync_id: row.id }, 'stripe sync failed')
      await save(true).catch(() => {})
      await finishSync(db, row.id, owner, 'failed', syncError(err)).catch(() => {})
    }
  }

  return {
    request,
    /** The caller's sync (404 for another developer's project or an unknown id). */
    async get (developerId: string, projectId: string, syncId: string): Promise<StripeSyncRow> {
      await ownedProject(db, developerId, projectId)
      const row = await findSync(db, projectId, syncId)
      if (!row) throw notFound('sync')
      return row
    },
    async find (projectId: string, syncId: string): Promise<StripeSyncRow | undefined> {
      return findSync(db, projectId, syncId)
    },
    /** Resolves when this instance's run of the sync ends (at once if it runs elsewhere or not at all). */
    async settled (syncId: string): Promise<void> {
      await running.get(syncId)?.done
    },
    /** Stops this instance's syncs where they are (saved as interrupted: the next request resumes them). */
    async close (): Promise<void> {
      const all = [...running.values()]
      for (const r of all) r.controller.abort()
      await Promise.all(all.map((r) => r.done))
    },
  }
}

export type StripeSyncService = ReturnType<typeof createStripeSyncService>

type Listed = Stripe.ApiList<Stripe.Subscription | Stripe.Invoice | Stripe.PaymentIntent | Stripe.Charge>

/** One page of an object list, newest first, every status, with what its state event needs expanded. */
function listObjects (stripe: Stripe, kind: ObjectKind, after: string | null): Promise<Listed> {
  const page = { limit: PAGE, ...(after ? { starting_after: after } : {}) }
  switch (kind) {
    case 'subscriptions': return stripe.subscriptions.list({ ...page, status: 'all' })
    case 'invoices': return stripe.invoices.list({ ...page, expand: ['data.payments'] })
    case 'payment_intents': return stripe.paymentIntents.list({ ...page, expand: ['data.latest_charge'] })
    case 'charges': return stripe.charges.list({ ...page, expand: ['data.refunds'] })
  }
}

