import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'kysely'

const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async (request, reply) => {
    try {
      await sql`select 1`.execute(app.db)
      return { status: 'ok' }
    } catch (error) {
      request.log.error({ err: error }, 'database health check failed')
      return reply.code(503).send({ status: 'unavailable' })
    }
  })
}
export default health
