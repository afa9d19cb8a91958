import { catalogProductEffect } from '../../modules/credits/catalog-effects.ts'
import type { EventDefinition } from '../event.ts'
import { ProductObject } from '../event-objects.ts'

/** product.updated: the credit catalog's entries of this product show its new name. */
export const productUpdated: EventDefinition<'product.updated'> = {
  object: ProductObject,
  effects: (scope, event) => [catalogProductEffect(scope, event.data.object)],
}
