import type { FastifyPluginAsync } from 'fastify'
import { HttpError, NOT_FOUND } from '../plugins/app/errors.js'
import { type SlugParams, slugParams } from './schemas.js'

/** Checkout Session ids as Stripe makes them (cs_test_..., cs_live_...). */
const SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/

const checkoutRoutes: FastifyPluginAsync = async (app) => {
  const { catalog, orders, payments, checkout } = app

  app.post<{ Params: SlugParams }>('/:slug', {
    onRequest: app.requireUser,
    config: { rateLimited: true },
    schema: { params: slugParams }
  }, async (request, reply) => {
    const user = request.user!
    const content = catalog.find(request.params.slug)
    if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
    if (catalog.keeps(user.id, content) || (content.published === 1 && content.price_cents === 0)) {
      return reply.redirect(`/content/${content.slug}`, 303)
    }
    // Off sale: strangers do not see it at all; an admin, who does, is told why.
    if (content.published !== 1) {
      if (!catalog.canView(user, content)) throw new HttpError(404, NOT_FOUND.item)
      throw new HttpError(409, `"${content.title}" is unpublished, so it cannot be bought. Publish it again to sell it.`)
    }
    const started = await checkout.start(user, content)
    if (started.resumed) request.log.info({ orderId: started.orderId }, 'checkout resumed: the open one is reused')
    return reply.redirect(started.url, 303)
  })

  app.get<{ Querystring: { session_id?: string } }>('/success', {
    onRequest: app.requireUser,
    schema: { querystring: { type: 'object', properties: { session_id: { type: 'string' } } } }
  }, async (request, reply) => {
    const sessionId = request.query.session_id
    if (sessionId === undefined || sessionId === '') {
      throw new HttpError(400, 'This address is missing its checkout reference, so we cannot tell which purchase it is about. If you paid, the PDF will appear in your library shortly.')
    }
    // Our own records first: an id that is not one of this user's checkouts never reaches Stripe.
    const order = SESSION_ID.test(sessionId) ? orders.bySession(sessionId) : undefined
    if (order === undefined) {
      throw new HttpError(404, 'We could not match this checkout to an order. If you paid, contact us with your receipt.')
    }
    if (order.user_id !== request.user!.id) throw new HttpError(403, 'This checkout belongs to another account.')
    const session = await payments.retrieveSession(sessionId)

    const { outcome, order: current } = orders.fulfil(session, { source: 'redirect' })
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
    return await reply.page('pages/checkout-result.eta', {
      title: state === 'paid' ? 'Thank you' : state === 'processing' ? 'Payment processing' : 'Payment not completed',
      state,
      content
    })
  })

  app.get<{ Querystring: { slug?: string } }>('/cancel', {
    schema: { querystring: { type: 'object', properties: { slug: { type: 'string', maxLength: 200 } } } }
  }, async (request, reply) => {
    const { slug } = request.query
    const content = slug === undefined ? undefined : catalog.find(slug)
    return await reply.page('pages/checkout-cancel.eta', { title: 'Checkout cancelled', content })
  })
}
export default checkoutRoutes
