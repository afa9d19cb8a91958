import type { Executor } from '../../platform/db/client.ts'
import { isDatabaseUnavailable, sqlStateOf } from '../../platform/db/conflicts.ts'
import { consumeBatch, type ConsumeCall, type CreditAnswer } from './repository.ts'

interface Pending {
  call: ConsumeCall
  /** The wallet it changes: no two batches in flight share one. */
  wallet: string
  resolve (answer: CreditAnswer): void
  reject (err: unknown): void
  /** Runs alone: it was in a batch the database refused. */
  solo: boolean
}

export interface ConsumeBatcherOptions {
  /** Batches in flight at once, each on one connection. */
  concurrency: number
  /** Consumes in one batch at most. */
  maxBatch: number
}

/**
 * Group commit for consumes, as pipeline/batcher.ts is for webhooks. Each request keeps its own
 * answer, but the consumes that arrive while a batch is in the database go together in the next one:
 * one statement and one commit (credits_consume_batch, migration 0019), and for a busy wallet one
 * wait for its row lock instead of one per consume. Nothing waits for a timer: with no load a batch
 * is one consume, so latency does not grow; under load the batches grow by themselves. Batches in
 * flight at once never share a wallet (a consume of a wallet in flight waits for the next batch), so
 * they never queue on each other's wallet rows; a busy wallet's consumes pile into one batch.
 *
 * A request is answered only from the statement that committed its consume. When the database
 * refuses a batch (a value, a conflict, a deadlock) the statement rolled back and nothing of it was
 * spent, so each consume in it runs again alone and only one that fails by itself fails. When the
 * outcome is unknown (the connection lost, the server going away) every request of that batch fails,
 * and its caller may retry with the same Idempotency-Key: a spend that did commit is replayed.
 */
export class ConsumeBatcher {
  private readonly queue: Pending[] = []
  /** Wallets of the batches in flight. */
  private readonly busy = new Set<string>()
  private running = 0

  constructor (private readonly db: Executor, private readonly options: ConsumeBatcherOptions) {}

  consume (call: ConsumeCall): Promise<CreditAnswer> {
    return new Promise<CreditAnswer>((resolve, reject) => {
      this.queue.push({ call, wallet: `${call.projectId}|${call.mode}|${call.endUserId}`, resolve, reject, solo: false })
      this.pump()
    })
  }

  private pump (): void {
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const batch = this.take()
      if (batch.length === 0) return
      this.running++
      for (const p of batch) this.busy.add(p.wallet)
      void this.run(batch).finally(() => {
        for (const p of batch) this.busy.delete(p.wallet)
        this.running--
        this.pump()
      })
    }
  }

  /**
   * The oldest waiting consumes of wallets no batch in flight holds, up to maxBatch; one that must
   * run alone goes alone. A wallet's consumes keep their order: once one is left waiting, so are the
   * ones after it.
   */
  private take (): Pending[] {
    const batch: Pending[] = []
    const waiting = new Set(this.busy)
    for (let i = 0; i < this.queue.length && batch.length < this.options.maxBatch; i++) {
      const p = this.queue[i] as Pending
      if (waiting.has(p.wallet) || (p.solo && batch.length > 0)) {
        waiting.add(p.wallet)
        continue
      }
      batch.push(p)
      this.queue.splice(i--, 1)
      if (p.solo) break
    }
    return batch
  }

  private async run (batch: Pending[]): Promise<void> {
    let answers: CreditAnswer[]
    try {
      answers = await consumeBatch(this.db, batch.map((p) => p.call))
    } catch (err) {
      if (batch.length > 1 && refusedByServer(err)) {
        for (const p of batch) p.solo = true
        this.queue.unshift(...batch)
      } else {
        for (const p of batch) p.reject(err)
      }
      return
    }
    batch.forEach((p, i) => {
      const answer = answers[i]
      if (answer) p.resolve(answer)
      else p.reject(new Error(`credits_consume_batch answered ${answers.length} of ${batch.length}`))
    })
  }
}

/** The server answered the statement with an error of the statement: it rolled back, so nothing of it happened. */
const refusedByServer = (err: unknown): boolean => sqlStateOf(err) !== undefined && !isDatabaseUnavailable(err)
