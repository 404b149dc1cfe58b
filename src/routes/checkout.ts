import type { FastifyPluginAsync } from 'fastify'
import { HttpError } from '../plugins/errors.js'

const checkoutRoutes: FastifyPluginAsync = async (app) => {
  const { catalog, orders, payments, config } = app

  app.post('/:slug', {
    onRequest: app.requireUser,
    config: { rateLimited: true },
    schema: { params: { type: 'object', properties: { slug: { type: 'string', maxLength: 200 } }, required: ['slug'] } }
  }, async (request, reply) => {
    const { slug } = request.params as { slug: string }
    const user = request.user!
    const content = catalog.find(slug)
    if (content === undefined) throw new HttpError(404, 'There is no item at this address. It may have been removed.')
    if (content.price_cents === 0 || catalog.owns(user.id, content.id)) {
      return reply.redirect(`/content/${content.slug}`, 303)
    }
    // The order exists, at our price, before Stripe hears of it.
    const order = orders.create(user.id, content)
    try {
      const session = await payments.createCheckoutSession(order, content, user.email, {
        successUrl: `${config.publicUrl}/checkout/success?session_id={CHECKOUT_SESSION_ID}`,
        cancelUrl: `${config.publicUrl}/checkout/cancel?slug=${encodeURIComponent(content.slug)}`
      })
      orders.attachSession(order.id, session.id)
      request.log.info({ orderId: order.id, sessionId: session.id }, 'checkout started')
      return reply.redirect(session.url, 303)
    } catch (error) {
      orders.abandon(order.id)
      request.log.error({ err: error, orderId: order.id }, 'could not create a checkout session')
      throw error
    }
  })

  app.get('/success', {
    onRequest: app.requireUser,
    schema: { querystring: { type: 'object', properties: { session_id: { type: 'string', minLength: 1, maxLength: 255 } }, required: ['session_id'] } }
  }, async (request, reply) => {
    const { session_id: sessionId } = request.query as { session_id: string }
    const session = await payments.retrieveSession(sessionId)
    const order = session.orderId === null ? undefined : orders.find(session.orderId)
    if (order === undefined || order.stripe_session_id !== sessionId) {
      throw new HttpError(404, 'We could not match this checkout to an order. If you paid, contact us with your receipt.')
    }
    if (order.user_id !== request.user!.id) throw new HttpError(403, 'This checkout belongs to another account.')

    const { outcome, order: current } = orders.fulfil(session)
    const content = catalog.findById(order.content_id)
    reply.header('cache-control', 'no-store')
    // Only a finished Checkout with a payment still settling is "processing"; a session the buyer
    // never completed (the success URL opened by hand) says the payment did not go through.
    const settling = outcome === 'processing' && session.checkoutStatus !== 'open' && session.checkoutStatus !== 'expired'
    const state = outcome === 'granted' || outcome === 'already_paid'
      ? 'paid'
      : settling ? 'processing' : (current?.status ?? order.status)
    // An asynchronous payment settles by webhook: the page asks again until it has.
    if (state === 'processing') reply.header('refresh', '3')
    return reply.viewAsync('pages/checkout-result.eta', {
      title: state === 'paid' ? 'Thank you' : state === 'processing' ? 'Payment processing' : 'Payment not completed',
      state,
      content
    })
  })

  app.get('/cancel', async (request, reply) => {
    const { slug } = request.query as { slug?: unknown }
    const content = typeof slug === 'string' ? catalog.find(slug) : undefined
    return reply.viewAsync('pages/checkout-cancel.eta', { title: 'Checkout cancelled', content })
  })
}
export default checkoutRoutes
