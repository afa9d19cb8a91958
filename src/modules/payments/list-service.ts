import type { Executor } from '../../platform/db/client.ts'
import { subscriptionView, transactionView } from './views.ts'
import { pageOf, splitPage } from '../../platform/http/pagination.ts'
import { modeOf } from '../../platform/http/schemas.ts'
import { duplicateBillingSubscriptions, listDeveloperSubscriptions, listDeveloperTransactions, projectNames, type ListFilters } from './list-repository.ts'
import { ownedProject } from '../projects/service.ts'

export interface ListRequest extends ListFilters {
  limit: number
  startingAfter?: string | undefined
}

/** The querystring of a list route as the repository's filters (`created[gte]` keys keep their brackets). */
export function listRequestOf (developerId: string, q: {
  test_mode: boolean, limit: number, starting_after?: string | undefined, project_id?: string | undefined, status?: string | undefined,
  customer?: string | undefined, 'created[gte]'?: string | undefined, 'created[lte]'?: string | undefined
}, projectId?: string): ListRequest {
  return {
    developerId,
    mode: modeOf(q),
    projectId: projectId ?? q.project_id,
    status: q.status,
    customer: q.customer,
    createdGte: q['created[gte]'],
    createdLte: q['created[lte]'],
    limit: q.limit,
    startingAfter: q.starting_after,
  }
}

async function page<Row extends { id: string, projectId: string }, View> (
  db: Executor, req: ListRequest,
  list: (db: Executor, f: ListFilters, limit: number, after?: string) => Promise<Row[]>,
  view: (row: Row) => View,
) {
  // Another developer's project is 404, as everywhere; a filter never widens to someone else's rows.
  if (req.projectId) await ownedProject(db, req.developerId, req.projectId)
  const filters: ListFilters = {
    developerId: req.developerId, mode: req.mode, projectId: req.projectId, status: req.status, customer: req.customer, createdGte: req.createdGte, createdLte: req.createdLte,
  }
  const rows = await list(db, filters, req.limit + 1, req.startingAfter)
  const { rows: data, hasMore } = splitPage(rows, req.limit)
  const names = await projectNames(db, req.developerId, data.map((r) => r.projectId))
  return pageOf(data, hasMore, (r) => ({ ...view(r), project_name: names.get(r.projectId) ?? '' }))
}

export const listTransactionsPage = (db: Executor, req: ListRequest) => page(db, req, listDeveloperTransactions, transactionView)
export async function listSubscriptionsPage (db: Executor, req: ListRequest) {
  const result = await page(db, req, listDeveloperSubscriptions, subscriptionView)
  const duplicates = await duplicateBillingSubscriptions(db, result.data.map((r) => r.id))
  return { ...result, data: result.data.map((r) => ({ ...r, duplicate_active: duplicates.has(r.id) })) }
}
