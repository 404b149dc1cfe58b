import type { FastifyPluginAsync } from 'fastify'

/** Stripe's events (in the machine context: raw bodies, JSON answers). */
const webhookRoutes: FastifyPluginAsync = async (app) => {
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ statusCode: 404, error: 'No such webhook endpoint.' }))

  app.post('/stripe', async (request, reply) => {
    const signature = request.headers['stripe-signature']
    if (typeof signature !== 'string' || signature === '') {
      return reply.code(400).send({ error: 'Missing Stripe-Signature header.' })
    }
    if (!Buffer.isBuffer(request.body)) return reply.code(400).send({ error: 'Expected a JSON event body.' })
    let verified
    try {
      verified = app.payments.verifyEvent(request.body, signature)
    } catch (error) {
      request.log.warn({ err: { message: (error as Error).message } }, 'webhook rejected: bad signature or body')
      return reply.code(400).send({ error: 'Invalid signature or event.' })
    }
    if (verified.event === null) {
      request.log.debug({ eventId: verified.id, type: verified.type }, 'webhook event ignored')
      return { received: true, ignored: true }
    }
    const outcome = await app.orders.handleEventSoon(verified.id, verified.event)
    request.log.info({ eventId: verified.id, type: verified.type, outcome }, 'webhook event handled')
    return { received: true, outcome }
  })
}
export default webhookRoutes
