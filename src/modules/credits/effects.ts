import { write, writeOnly, type Effect } from '../../platform/db/effects.ts'
import type { CreditOp } from './model.ts'
import { creditOps } from './repository.ts'

/**
 * What an event means for credits: one operation of the ledger engine, written in the statement that
 * records the event. It takes no lock key: it plans nothing from rows read before the write (the
 * engine decides under the wallet's row lock), so several changes of one wallet may share a batch,
 * applied one after another in arrival order. A lock key per wallet made every invoice of one
 * customer wait for the batch before it (bench/RESULTS.md, 2026-12-03: 2,400 → 690 events/s).
 */
export const creditEffect = (op: CreditOp): Effect => writeOnly([], write(creditOps, op))

/** The effects of the operations an event implies (none when it implies none). */
export const creditEffects = (...ops: Array<CreditOp | null>): Effect[] => ops.filter((op): op is CreditOp => op !== null).map(creditEffect)
