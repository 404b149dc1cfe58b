import { randomBytes } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Content, User } from '../../db/types.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import type { GuestResult } from './pages.js'
import { guestAddress, isGuest } from './guests.js'
import { chosenAmount, isFree } from '../../lib/pricing.js'
import { EMAIL } from '../settings/settings.js'
import { itemPath } from '../../lib/slugs.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'

/** Checkout Session ids as Stripe makes them (cs_test_..., cs_live_...). */
const SESSION_ID = /^cs_[A-Za-z0-9_]{1,250}$/
/** Our order ids (the return address of providers that cannot name their checkout in it, like Mollie). */
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

interface BuyBody { amount?: string, email?: string }
const buyBody = {
  type: 'object',
  properties: { amount: { type: 'string', maxLength: 40 }, email: { type: 'string', maxLength: 320 } }
} as const
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
  async function browserGuest (request: FastifyRequest): Promise<User> {
    let guestId = request.session.get('guest')
    if (typeof guestId !== 'string') {
      guestId = randomBytes(18).toString('base64url')
      request.session.set('guest', guestId)
    }
    return await users.guestSession(guestId)
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

  /**
   * The amount of this purchase: the price, or what the buyer typed for a pay-what-you-want
   * item (0 when its minimum is 0: then it is free and there is nothing to pay).
   */
  function amountOf (content: Content, body: BuyBody): number {
    if (content.pay_what_you_want !== 1) return content.price_cents
    const chosen = chosenAmount(content, body.amount)
    if (chosen.problem !== undefined) throw new HttpError(400, `${chosen.problem} Nothing was charged; go back to the item to change the amount.`)
    return chosen.amount
  }

  app.post<{ Params: SlugParams, Body: BuyBody }>('/:slug', {
    onRequest: buyerOrSignIn,
    config: { rateLimited: true },
    schema: { params: slugParams, body: buyBody }
  }, async (request, reply) => {
    const content = await catalog.find(request.params.slug)
    if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
    if (request.user === null) {
      // A guest: the item must be on sale; what this browser already bought shows its thank-you page.
      if (content.published !== 1) throw new HttpError(404, NOT_FOUND.item)
      const amount = amountOf(content, request.body ?? {})
      if (amount === 0) return reply.redirect(itemPath(content.slug), 303)
      const bought = (await Promise.all(guestOrders(request).map(async (id) => await orders.find(id))))
        .find((order) => order?.content_id === content.id && order.status === 'paid' && order.stripe_session_id !== null)
      if (bought !== undefined) {
        const thanks = new URL(payments.returnUrl(bought.id, bought.stripe_session_id!))
        return reply.redirect(thanks.pathname + thanks.search, 303)
      }
      // A provider whose page does not ask for an address (Mollie): the guest typed it on ours.
      let email: string | null = null
      if (!payments.collectsEmail) {
        email = guestAddress(request.body?.email)
        if (email === null || !EMAIL.test(email)) throw new HttpError(400, 'Type the email address the receipt and download link should go to. Nothing was charged.')
      }
      const started = await checkout.start(await browserGuest(request), content, { amount, email })
      rememberGuestOrder(request, started.orderId)
      if (started.resumed) request.log.info({ orderId: started.orderId }, 'guest checkout resumed: the open one is reused')
      return reply.redirect(started.url, 303)
    }
    const user = request.user
    const amount = content.published === 1 ? amountOf(content, request.body ?? {}) : content.price_cents
    // Bought already, or free and nothing offered: the item's page has the download.
    if (await catalog.owns(user.id, content.id) || (content.published === 1 && amount === 0) || (!isFree(content) && await catalog.keeps(user.id, content))) {
      return reply.redirect(itemPath(content.slug), 303)
    }
    // Off sale: strangers do not see it at all; an admin, who does, is told why.
    if (content.published !== 1) {
      if (!await catalog.canView(user, content)) throw new HttpError(404, NOT_FOUND.item)
      throw new HttpError(409, `"${content.title}" is unpublished, so it cannot be bought. Publish it again to sell it.`)
    }
    const started = await checkout.start(user, content, { amount })
    if (started.resumed) request.log.info({ orderId: started.orderId }, 'checkout resumed: the open one is reused')
    return reply.redirect(started.url, 303)
  })

  app.get<{ Querystring: { session_id?: string, order_id?: string } }>('/success', {
    onRequest: buyerOrSignIn,
    schema: { querystring: { type: 'object', properties: { session_id: { type: 'string' }, order_id: { type: 'string' } } } }
  }, async (request, reply) => {
    // Stripe names its Checkout Session in the return address; Mollie returns to our order's.
    const { session_id: sessionId = '', order_id: orderId = '' } = request.query
    if (sessionId === '' && orderId === '') {
      throw new HttpError(400, 'This address is missing its checkout reference, so we cannot tell which purchase it is about. If you paid, the PDF will appear in your library shortly.')
    }
    // Our own records first: an id that is not one of this user's checkouts never reaches the provider.
    const order = sessionId !== ''
      ? (SESSION_ID.test(sessionId) ? await orders.bySession(sessionId) : undefined)
      : (ORDER_ID.test(orderId) ? await orders.find(orderId) : undefined)
    // A guest's thank-you page is bound to the browser that started the checkout, not to
    // whoever holds the session id; anyone else signed out is asked to sign in, as before.
    const guestHere = order !== undefined && guestOrders(request).includes(order.id)
    if (request.user === null && !guestHere) {
      const owner = order === undefined ? undefined : await users.find(order.user_id)
      if (owner === undefined || !isGuest(owner)) return await app.requireUser(request, reply)
      throw new HttpError(403, 'This checkout was started in another browser. The receipt we emailed has the download link; or sign in with the address you paid with.')
    }
    if (order === undefined || order.stripe_session_id === null) {
      throw new HttpError(404, 'We could not match this checkout to an order. If you paid, contact us with your receipt.')
    }
    if (!guestHere && order.user_id !== request.user!.id) throw new HttpError(403, 'This checkout belongs to another account.')
    if (order.provider !== payments.name) {
      throw new HttpError(409, 'This checkout was made with another payment provider than the store uses now. If you paid, the purchase is in your library or will be once we confirm it.')
    }
    const { state, order: current, customerEmail } = await checkout.returned(order)
    const content = await catalog.findById(order.content_id)
    reply.header('cache-control', 'no-store')
    // An asynchronous payment settles by webhook: the page asks again until it has.
    if (state === 'processing') reply.header('refresh', '3')
    // A guest has no library: the signed link is the download, and the receipt brings it again.
    let guest: GuestResult | null = null
    if (guestHere) {
      const email = (await users.find(current.user_id))?.email ?? customerEmail
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
    const content = slug === undefined ? undefined : await catalog.find(slug)
    return await reply.page('pages/checkout-cancel.eta', { title: 'Checkout cancelled', content })
  })
}
export default checkoutRoutes
