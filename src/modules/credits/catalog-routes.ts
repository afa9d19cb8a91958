import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { developerOf } from '../auth/plugin.ts'
import { ModeQuery, ProjectParams, modeOf, problems } from '../../platform/http/schemas.ts'
import {
  CatalogListQuery, CatalogPriceParams, PackageList, PackageView, PlanList, PlanView, PublicCatalog, PublicCatalogParams, PublicCatalogQuery,
  PutPackageBody, PutPlanBody, PutTopUpBody, TopUpView,
} from './catalog-schemas.ts'
import { createCatalogService, type CatalogRef } from './catalog-service.ts'
import { packageView, planView, publicCatalogView, topUpView } from './catalog-views.ts'

/** How long anyone (a browser, a CDN) may reuse the public catalog. */
export const PUBLIC_CATALOG_MAX_AGE = 60

/** Mounted at /payments/stripe/projects: a developer's own projects' credit catalog; anyone else's project is 404. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createCatalogService({ db: app.db, resolver: app.stripeResolver })
  app.addHook('onRequest', app.authenticateDeveloper)
  const common = { tags: ['credits-catalog'], security: [{ developer: [] }] }
  const refOf = (req: { params: { project_id: string }, query: { test_mode: boolean } }, developerId: string): CatalogRef =>
    ({ developerId, projectId: req.params.project_id, mode: modeOf(req.query) })
  const stripeProblems = problems(400, 401, 404, 409, 502, 503, 504)

  app.put('/:project_id/plans/:price_id', {
    schema: {
      ...common, operationId: 'putCreditPlan', summary: 'Make an active recurring price a plan whose paid periods grant credits (re-activates a retired one)',
      params: CatalogPriceParams, querystring: ModeQuery, body: PutPlanBody, response: { 200: PlanView, ...stripeProblems },
    },
  }, async (req) => planView(await service.putPlan(refOf(req, developerOf(req).id), req.params.price_id, req.body)))

  app.get('/:project_id/plans', {
    schema: { ...common, operationId: 'listCreditPlans', params: ProjectParams, querystring: CatalogListQuery, response: { 200: PlanList, ...problems(400, 401, 404) } },
  }, async (req) => ({ data: (await service.listPlans(refOf(req, developerOf(req).id), req.query.include_retired)).map(planView) }))

  app.delete('/:project_id/plans/:price_id', {
    schema: {
      ...common, operationId: 'retireCreditPlan', summary: 'Retire a plan: no new purchases; credits already granted stay',
      params: CatalogPriceParams, querystring: ModeQuery, response: { 200: PlanView, ...problems(400, 401, 404) },
    },
  }, async (req) => planView(await service.retirePlan(refOf(req, developerOf(req).id), req.params.price_id)))

  app.put('/:project_id/packages/:price_id', {
    schema: {
      ...common, operationId: 'putCreditPackage', summary: 'Make an active one-time price a package whose purchase grants credits (re-activates a retired one)',
      params: CatalogPriceParams, querystring: ModeQuery, body: PutPackageBody, response: { 200: PackageView, ...stripeProblems },
    },
  }, async (req) => packageView(await service.putPackage(refOf(req, developerOf(req).id), req.params.price_id, req.body)))

  app.get('/:project_id/packages', {
    schema: { ...common, operationId: 'listCreditPackages', params: ProjectParams, querystring: CatalogListQuery, response: { 200: PackageList, ...problems(400, 401, 404) } },
  }, async (req) => ({ data: (await service.listPackages(refOf(req, developerOf(req).id), req.query.include_retired)).map(packageView) }))

  app.delete('/:project_id/packages/:price_id', {
    schema: {
      ...common, operationId: 'retireCreditPackage', summary: 'Retire a package: no new purchases; credits already granted stay',
      params: CatalogPriceParams, querystring: ModeQuery, response: { 200: PackageView, ...problems(400, 401, 404) },
    },
  }, async (req) => packageView(await service.retirePackage(refOf(req, developerOf(req).id), req.params.price_id)))

  app.put('/:project_id/top-up', {
    schema: {
      ...common, operationId: 'putCreditTopUp', summary: 'Custom-amount purchases: the amount is the buyer\'s within the bounds, credits per minor unit',
      params: ProjectParams, querystring: ModeQuery, body: PutTopUpBody, response: { 200: TopUpView, ...problems(400, 401, 404) },
    },
  }, async (req) => topUpView(await service.putTopUp(refOf(req, developerOf(req).id), req.body)))

  app.get('/:project_id/top-up', {
    schema: { ...common, operationId: 'getCreditTopUp', params: ProjectParams, querystring: ModeQuery, response: { 200: TopUpView, ...problems(400, 401, 404) } },
  }, async (req) => topUpView(await service.getTopUp(refOf(req, developerOf(req).id))))

  app.delete('/:project_id/top-up', {
    schema: {
      ...common, operationId: 'retireCreditTopUp', summary: 'Stop custom-amount purchases; credits already granted stay',
      params: ProjectParams, querystring: ModeQuery, response: { 200: TopUpView, ...problems(400, 401, 404) },
    },
  }, async (req) => topUpView(await service.retireTopUp(refOf(req, developerOf(req).id))))
}
export default routes

/** Mounted at /public/projects: what a project sells, for its pricing page. No authentication; nothing secret. */
export const publicCatalogRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const service = createCatalogService({ db: app.db, resolver: app.stripeResolver })

  app.get('/:project_id/catalog', {
    schema: {
      tags: ['credits-catalog'], operationId: 'getPublicCatalog', summary: 'The plans, packages and top-up anyone may buy (no authentication; cacheable for 60 s)',
      params: PublicCatalogParams, querystring: PublicCatalogQuery, response: { 200: PublicCatalog, ...problems(400, 404) },
    },
  }, async (req, reply) => {
    const { plans, packages, topUp } = await service.publicCatalog(req.params.project_id, modeOf(req.query), req.query.type)
    // Only a found catalog is cacheable; a 404 (a project not created yet) must not stick.
    void reply.header('cache-control', `public, max-age=${PUBLIC_CATALOG_MAX_AGE}`)
    return publicCatalogView(plans, packages, topUp)
  })
}
