import type { FastifyPluginAsync } from 'fastify'

const libraryRoutes: FastifyPluginAsync = async (app) => {
  app.get('/library', { onRequest: app.requireUser }, async (request, reply) => {
    const items = await app.library.entries(request.user!.id)
    return await reply.page('pages/library.eta', { title: 'Your library', items })
  })
}
export default libraryRoutes
