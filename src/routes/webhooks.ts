import type { FastifyPluginAsync } from 'fastify'

/**
 * Stripe's events. Signatures are computed over the exact bytes sent, so this plugin (and only
 * this one: it is encapsulated) keeps JSON bodies as raw buffers.
 */
const webhookRoutes: FastifyPluginAsync = async (app) => {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => { done(null, body) })

  app.post('/stripe', { config: { csrf: false } }, async (request, reply) => {
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
