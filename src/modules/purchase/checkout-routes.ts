import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Content } from '../../db/types.js'
import { browserGuest, guestOrders, rememberGuestOrder } from './guest-browser.js'
import { paidOf } from '../../db/order-amounts.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import { receiptMoney } from '../../http/order-money.js'
import type { GuestResult } from './pages.js'
import { guestAddress } from './guests.js'
import { chosenAmount, isFree } from '../../lib/pricing.js'
import { EMAIL } from '../settings/plugin.js'
import { itemPath } from '../../lib/slugs.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'

interface BuyBody { amount?: string, email?: string }
const buyBody = {
  type: 'object',
  properties: { amount: { type: 'string', maxLength: 40 }, email: { type: 'string', maxLength: 320 } }
} as const

const checkoutRoutes: FastifyPluginAsync = async (app) => {
  const { catalog, checkout, links, config } = app

  /**
   * With guest checkout a signed-out visitor buys as this browser's guest user; without it they
   * sign in first (requireUser) and come back to the item.
   */
  async function buyerOrSignIn (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    if (!config.guestCheckout) return await app.requireUser(request, reply)
  }

  app.post<{ Params: SlugParams, Body: BuyBody }>('/:slug', {
    onRequest: buyerOrSignIn,
    config: { rateLimited: true },
    schema: { params: slugParams, body: buyBody }
  }, async (request, reply) => {
    const content = await catalog.find(request.params.slug)
    if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
    if (request.user === null) return await buyAsGuest(app, request, reply, content)
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
    const confirmed = await checkout.confirm({
      checkoutId: request.query.session_id ?? '',
      orderId: request.query.order_id ?? '',
      userId: request.user?.id ?? null,
      guestOrderIds: guestOrders(request)
    })
    if (confirmed.kind === 'sign_in') return await app.requireUser(request, reply)
    const { state, order, guest: guestBuyer } = confirmed
    const content = await catalog.findById(order.content_id)
    reply.header('cache-control', 'no-store')
    // An asynchronous payment settles by webhook: the page asks again until it has.
    if (state === 'processing') reply.header('refresh', '3')
    // A guest has no library: the signed link is the download, and the receipt brings it again.
    const guest: GuestResult | null = guestBuyer === null ? null : { email: guestBuyer.email, link: state === 'paid' ? links.create(order.id).url : null }
    const paid = state === 'paid'
    // The cart this order was checked out from (the cart module's session keys) is bought: empty it.
    if (paid && request.session.get('cartOrder') === order.id) {
      request.session.set('cart', undefined)
      request.session.set('cartOrder', undefined)
    }
    return await reply.page('pages/checkout-result.eta', {
      title: paid ? 'Thank you' : state === 'processing' ? 'Payment processing' : 'Payment not completed',
      state,
      content,
      guest,
      money: paid ? receiptMoney({ ...order, paid_cents: paidOf(order) }) : null,
      invoiceUrl: paid && order.invoice_id !== null ? await app.invoices.url(order.id) : null
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

/** A guest's Buy: the item must be on sale; what this browser already bought shows its thank-you page. */
async function buyAsGuest (app: FastifyInstance, request: FastifyRequest<{ Body: BuyBody }>, reply: FastifyReply, content: Content): Promise<FastifyReply> {
  const { orders, payments, checkout } = app
  if (content.published !== 1) throw new HttpError(404, NOT_FOUND.item)
  const amount = amountOf(content, request.body ?? {})
  if (amount === 0) return reply.redirect(itemPath(content.slug), 303)
  const bought = (await Promise.all(guestOrders(request).map(async (id) => await orders.find(id))))
    .find((order) => order?.content_id === content.id && order.status === 'paid' && order.provider_checkout_id !== null)
  if (bought !== undefined) {
    const thanks = new URL(payments.returnUrl(bought.id, bought.provider_checkout_id!))
    return reply.redirect(thanks.pathname + thanks.search, 303)
  }
  // A provider whose page does not ask for an address (Mollie): the guest typed it on ours.
  let email: string | null = null
  if (!payments.collectsEmail) {
    email = guestAddress(request.body?.email)
    if (email === null || !EMAIL.test(email)) throw new HttpError(400, 'Type the email address the receipt and download link should go to. Nothing was charged.')
  }
  const started = await checkout.start(await browserGuest(app, request), content, { amount, email })
  rememberGuestOrder(request, started.orderId)
  if (started.resumed) request.log.info({ orderId: started.orderId }, 'guest checkout resumed: the open one is reused')
  return reply.redirect(started.url, 303)
}

export default checkoutRoutes
