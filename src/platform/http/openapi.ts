import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'

export const OPENAPI_INFO = {
  title: 'Stripe payments platform',
  version: '1.0.0',
  description: 'Multi-tenant Stripe payments: encrypted per-project keys, checkout, verified webhooks, aggregated developer stats. Errors are application/problem+json (RFC 9457) with a stable `code`.',
}

/** openapi.yaml at the repository root is generated from these route schemas (npm run openapi:generate). */
export default fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: OPENAPI_INFO,
      servers: [{ url: '/' }],
      components: {
        securitySchemes: {
          developer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Developer token: sub = developer id, role = developer' },
          endUser: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'End-user token signed with the project end-user secret: sub, project_id, role = end_user' },
          apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'psk_test_… / psk_live_…', description: 'A project API key (POST /projects/{project_id}/api-keys): its project and mode only' },
        },
      },
      tags: [
        { name: 'projects', description: 'Projects and their end-user secrets' },
        { name: 'stripe-config', description: 'Per-project, per-mode Stripe configuration' },
        { name: 'stripe-sync', description: 'Resync a project and mode from Stripe after missed webhooks' },
        { name: 'payments', description: 'Aggregated views across the developer\'s projects' },
        { name: 'credits-catalog', description: 'Which Stripe prices grant credits (plans, packages, the top-up), and the public catalog' },
        { name: 'end-user', description: 'An end user\'s checkout, subscription, payments and billing portal' },
        { name: 'webhooks', description: 'Stripe webhooks: the verified entry, recorded events, replay and managed endpoints' },
        { name: 'credits', description: 'The developer\'s backend spends and reads its end users\' credits (API key or developer token)' },
        { name: 'api keys', description: 'Project API keys for the developer\'s backend' },
        { name: 'operations', description: 'Health and readiness' },
      ],
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'openapi' })
