import type { EffectKinds } from '../../platform/db/effects.ts'
import { catalogPriceRefreshes, catalogProductRefreshes } from '../../modules/credits/catalog-repository.ts'
import { customerEndUser, customerLinks } from '../../modules/payments/customer-repository.ts'
import { subscriptionById, subscriptionEndUserLinks, subscriptionUpserts } from '../../modules/payments/subscription-repository.ts'
import { transactionMerges, transactionsByKeys } from '../../modules/payments/transaction-repository.ts'
import { creditOps } from '../../modules/credits/repository.ts'
import { statsDeltas } from '../../modules/stats/repository.ts'
import { eventRecords, eventStatus } from '../repository.ts'

/**
 * Every kind of read and write an effect may use. A statement holds the kinds its batch uses, so its
 * text depends only on which kinds those are (a bounded set, each prepared once per connection).
 * Writes run in this order: the event records first (a duplicate stops everything), then the
 * domains' rows, the catalog, the credits, then the stats their changes add up to. A new domain adds
 * its kinds here.
 */
export const EFFECT_KINDS: EffectKinds = {
  reads: [eventStatus, transactionsByKeys, subscriptionById, customerEndUser],
  writes: [eventRecords, customerLinks, transactionMerges, subscriptionUpserts, subscriptionEndUserLinks, catalogPriceRefreshes, catalogProductRefreshes, creditOps, statsDeltas],
  guarded: ['transactions', 'subscriptions'],
}
