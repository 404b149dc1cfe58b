import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'kysely'

const health: FastifyPluginAsync = async (app) => {
  app.get('/healthz', async (request, reply) => {
    try {
      await sql`select 1`.execute(app.db)
      // Files found missing at start-up or on a download: the shop works, but not all of it.
      const missingFiles = app.files.missing.size
      // An object store that does not answer: pages work, downloads and uploads do not.
      if (!await app.files.check()) {
        request.log.error({ store: app.files.location }, 'the file store does not answer')
        return reply.code(503).send({ status: 'degraded', missingFiles, storage: 'unavailable' })
      }
      if (missingFiles > 0) return reply.code(503).send({ status: 'degraded', missingFiles })
      return { status: 'ok' }
    } catch (error) {
      request.log.error({ err: error }, 'database health check failed')
      return reply.code(503).send({ status: 'unavailable' })
    }
  })
}
export default health
