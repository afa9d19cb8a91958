import { catalogPriceEffect } from '../../modules/credits/catalog-effects.ts'
import type { EventDefinition } from '../event.ts'
import { PriceObject } from '../event-objects.ts'

/** price.updated: the credit catalog's plans and packages of this price follow Stripe's amounts and active flag. */
export const priceUpdated: EventDefinition<'price.updated'> = {
  object: PriceObject,
  effects: (scope, event) => [catalogPriceEffect(scope, event.data.object)],
}
