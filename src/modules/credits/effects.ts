import { write, writeOnly, type Effect } from '../../platform/db/effects.ts'
import { walletKeyOf, type CreditOp } from './model.ts'
import { creditOps } from './repository.ts'

/**
 * What an event means for credits: one operation of the ledger engine, written in the statement that
 * records the event. It locks its wallet's key, so two changes of one wallet never share a batch.
 */
export const creditEffect = (op: CreditOp): Effect => writeOnly([`wallet|${walletKeyOf(op)}`], write(creditOps, op))

/** The effects of the operations an event implies (none when it implies none). */
export const creditEffects = (...ops: Array<CreditOp | null>): Effect[] => ops.filter((op): op is CreditOp => op !== null).map(creditEffect)
