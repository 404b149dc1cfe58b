import type { FastifyPluginAsync } from 'fastify'

/** The store's refund policy and how to reach it, for buyers before and after they pay. */
const policiesRoutes: FastifyPluginAsync = async (app) => {
  const { settings } = app
  app.get('/policies', async (_request, reply) => await reply.page('pages/policies.eta', { title: 'Refunds and policies', settings: await settings.fresh() }))
}
export default policiesRoutes
