import fp from 'fastify-plugin'
import { sweep } from './repository.ts'

/** How often each instance closes expired lots and reservations past their TTL that no change has closed. */
export const CREDITS_SWEEP_INTERVAL_MS = 60_000
const SWEEP_BATCH = 500

/**
 * The expiry sweep, on every instance: wallets another instance is sweeping (or spending from) are
 * skipped (FOR UPDATE SKIP LOCKED), and every change of a wallet closes what is due first anyway,
 * so the sweep only keeps balances and stats current for wallets nobody touches.
 */
export default fp(async (app) => {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    sweep(app.db, SWEEP_BATCH)
      .then((n) => { if (n > 0) app.log.info({ wallets: n }, 'credits sweep closed what was due') })
      .catch((err: unknown) => app.log.warn({ err }, 'credits sweep failed; the next one retries'))
      .finally(() => { running = false })
  }, CREDITS_SWEEP_INTERVAL_MS).unref()
  app.addHook('onClose', async () => { clearInterval(timer) })
}, { name: 'credits-sweep', dependencies: ['db'] })
