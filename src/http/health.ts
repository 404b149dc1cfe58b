import type { FastifyPluginAsync } from 'fastify'
import { sql } from 'kysely'

/** How long each check may take: a load balancer asking /healthz wants an answer, not a hang. */
export const HEALTH_TIMEOUT_MS = 3_000

/** Resolves true when `check` resolved in time, false when it failed or took too long. */
async function answers (check: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => { resolve(false) }, HEALTH_TIMEOUT_MS) })
  try {
    return await Promise.race([check().then(() => true, () => false), late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * GET /healthz for a load balancer: 200 only when this instance can serve, that is when its
 * database answers a query (through the runner, as every request's queries go) and its object
 * store answers; 503 with the reason otherwise, so the balancer sends traffic to the others.
 */
const health: FastifyPluginAsync = async (app) => {
  const compiled = sql`select 1`.compile(app.db)
  const select1 = { compile: () => compiled }

  app.get('/healthz', async (request, reply) => {
    const { database, files } = app
    const [databaseUp, storeUp] = await Promise.all([answers(async () => await database.runner.first(select1)), answers(async () => { if (!await files.check()) throw new Error('the store does not answer') })])
    if (!databaseUp) {
      request.log.error('database health check failed: the database does not answer')
      return reply.code(503).send({ status: 'unavailable', database: 'unavailable' })
    }
    // Files found missing at start-up or on a download: the shop works, but not all of it.
    const missingFiles = files.missing.size
    // An object store that does not answer: pages work, downloads and uploads do not.
    if (!storeUp) {
      request.log.error({ store: files.location }, 'the file store does not answer')
      return reply.code(503).send({ status: 'degraded', missingFiles, storage: 'unavailable' })
    }
    if (missingFiles > 0) return reply.code(503).send({ status: 'degraded', missingFiles })
    return { status: 'ok' }
  })
}
export default health
