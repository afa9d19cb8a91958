import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { problems } from '../../platform/http/schemas.ts'
import { problem, sendProblem } from '../../platform/http/problem.ts'

const operations: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/health', {
    schema: { tags: ['operations'], operationId: 'health', summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }))

  app.get('/ready', {
    schema: {
      tags: ['operations'], operationId: 'ready', summary: 'The database answers',
      response: { 200: Type.Object({ status: Type.Literal('ready'), database: Type.String() }), ...problems(503) },
    },
  }, async (req, reply) => {
    try {
      await app.database.ping()
      return { status: 'ready' as const, database: app.database.kind }
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed')
      return sendProblem(reply, problem(503, 'database_unavailable', 'The database did not answer'))
    }
  })
}
export default operations
