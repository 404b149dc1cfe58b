import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { User } from '../db/types.js'
import { HttpError, NOT_FOUND } from '../plugins/app/errors.js'
import type { GuestResult } from '../plugins/app/page.js'
import { isGuest } from '../services/guests.js'
import { type SlugParams, slugParams } from './schemas.js'

/** Checkout Session ids as Stripe makes them (cs_test_..., cs_live_...). */
const SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/
/** The guest orders a browser remembers (its latest); older ones are reached by the receipt's link. */
const GUEST_ORDERS_KEPT = 20

const checkoutRoutes: FastifyPluginAsync = async (app) => {
  const { catalog, orders, payments, checkout, users, links, config } = app

  /**
   * With guest checkout a signed-out visitor buys as this browser's guest user; without it they
   * sign in first (requireUser) and come back to the item.
   */
  async function buyerOrSignIn (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (!config.guestCheckout) return await app.requireUser(request, reply)
  }

  /** This browser's guest user: its id lives in the session cookie, made on the first guest Buy. */
  function browserGuest (request: FastifyRequest): User {
    let guestId = request.session.get('guest')
    if (typeof guestId !== 'string') {
      guestId = randomBytes(18).toString('base64url')
      request.session.set('guest', guestId)
    }
    return users.guestSession(guestId)
  }

  const guestOrders = (request: FastifyRequest): string[] => {
    const kept = request.session.get('guestOrders')
    return Array.isArray(kept) ? kept.filter((id): id is string => typeof id === 'string') : []
  }

  function rememberGuestOrder (request: FastifyRequest, orderId: string): void {
    const kept = guestOrders(request)
    if (kept.includes(orderId)) return
    request.session.set('guestOrders', [...kept, orderId].slice(-GUEST_ORDERS_KEPT))
  }

  app.post<{ Params: SlugParams }>('/:slug', {
    onRequest: buyerOrSignIn,
    config: { rateLimited: true },
    schema: { params: slugParams }
  }, async (request, reply) => {
    const content = catalog.find(request.params.slug)
    if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
    if (request.user === null) {
      // A guest: the item must be on sale; what this browser already bought shows its thank-you page.
      if (content.published !== 1) throw new HttpError(404, NOT_FOUND.item)
      if (content.price_cents === 0) return reply.redirect(`/content/${content.slug}`, 303)
      const bought = guestOrders(request).map((id) => orders.find(id))
        .find((order) => order?.content_id === content.id && order.status === 'paid' && order.stripe_session_id !== null)
      if (bought !== undefined) return reply.redirect(`/checkout/success?session_id=${encodeURIComponent(bought.stripe_session_id!)}`, 303)
      const started = await checkout.start(browserGuest(request), content)
      rememberGuestOrder(request, started.orderId)
      if (started.resumed) request.log.info({ orderId: started.orderId }, 'guest checkout resumed: the open one is reused')
      return reply.redirect(started.url, 303)
    }
    const user = request.user
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
    onRequest: buyerOrSignIn,
    schema: { querystring: { type: 'object', properties: { session_id: { type: 'string' } } } }
  }, async (request, reply) => {
    const sessionId = request.query.session_id
    if (sessionId === undefined || sessionId === '') {
      throw new HttpError(400, 'This address is missing its checkout reference, so we cannot tell which purchase it is about. If you paid, the PDF will appear in your library shortly.')
    }
    // Our own records first: an id that is not one of this user's checkouts never reaches Stripe.
    const order = SESSION_ID.test(sessionId) ? orders.bySession(sessionId) : undefined
    // A guest's thank-you page is bound to the browser that started the checkout, not to
    // whoever holds the session id; anyone else signed out is asked to sign in, as before.
    const guestHere = order !== undefined && guestOrders(request).includes(order.id)
    if (request.user === null && !guestHere) {
      const owner = order === undefined ? undefined : users.find(order.user_id)
      if (owner === undefined || !isGuest(owner)) return await app.requireUser(request, reply)
      throw new HttpError(403, 'This checkout was started in another browser. The receipt we emailed has the download link; or sign in with the address you paid with.')
    }
    if (order === undefined) {
      throw new HttpError(404, 'We could not match this checkout to an order. If you paid, contact us with your receipt.')
    }
    if (!guestHere && order.user_id !== request.user!.id) throw new HttpError(403, 'This checkout belongs to another account.')
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
    // A guest has no library: the signed link is the download, and the receipt brings it again.
    let guest: GuestResult | null = null
    if (guestHere) {
      const email = users.find(current?.user_id ?? order.user_id)?.email ?? session.customerEmail ?? null
      guest = { email, link: state === 'paid' ? links.create(order.id).url : null }
    }
    return await reply.page('pages/checkout-result.eta', {
      title: state === 'paid' ? 'Thank you' : state === 'processing' ? 'Payment processing' : 'Payment not completed',
      state,
      content,
      guest
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
