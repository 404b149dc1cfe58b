import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Content } from '../../db/types.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import { chosenAmount, isFree } from '../../lib/pricing.js'
import { itemPath } from '../../lib/slugs.js'
import { browserGuest, CART_MAX_LINES, type CartLine, guestAddress, guestOrders, rememberGuestOrder } from '../purchase/plugin.js'
import { EMAIL } from '../settings/plugin.js'
import type { CartRow } from './pages.js'
import { type CartEntry, cartEntries, saveCart } from './session.js'

interface SlugBody { slug: string, amount?: string }
const slugBody = {
  type: 'object',
  required: ['slug'],
  properties: { slug: { type: 'string', minLength: 1, maxLength: 200 }, amount: { type: 'string', maxLength: 40 } }
} as const
interface CheckoutBody { email?: string }
const checkoutBody = { type: 'object', properties: { email: { type: 'string', maxLength: 320 } } } as const

/** The cart's routes, under /cart: add, remove, the page, and checkout. */
const cartRoutes: FastifyPluginAsync = async (app) => {
  const { checkout, config, payments } = app

  app.post<{ Body: SlugBody }>('/add', { config: { rateLimited: true }, schema: { body: slugBody } }, async (request, reply) => {
    const content = await onSale(app, request, request.body.slug)
    const amount = amountOf(content, request.body.amount)
    if (amount === 0) {
      request.flash('info', `"${content.title}" is free: take it from its page, there is nothing to pay.`)
      return reply.redirect(itemPath(content.slug), 303)
    }
    if (await alreadyHas(app, request, content)) {
      request.flash('info', `You already have "${content.title}", so it was not added to your cart.`)
      return reply.redirect('/cart', 303)
    }
    const entries = cartEntries(request)
    const entry: CartEntry = content.pay_what_you_want === 1 ? { slug: content.slug, amount } : { slug: content.slug }
    const at = entries.findIndex((e) => e.slug === content.slug)
    if (at >= 0) {
      entries[at] = entry
      request.flash('info', `"${content.title}" is already in your cart${content.pay_what_you_want === 1 ? '; its amount is updated' : ''}.`)
    } else {
      if (entries.length >= CART_MAX_LINES) throw new HttpError(409, `Your cart holds at most ${CART_MAX_LINES} items. Check out, or remove one, before adding "${content.title}".`)
      entries.push(entry)
      request.flash('info', `"${content.title}" is in your cart.`)
    }
    saveCart(request, entries)
    return reply.redirect('/cart', 303)
  })

  app.post<{ Body: SlugBody }>('/remove', { schema: { body: slugBody } }, async (request, reply) => {
    const entries = cartEntries(request)
    const kept = entries.filter((e) => e.slug !== request.body.slug)
    if (kept.length !== entries.length) request.flash('info', 'Removed from your cart.')
    saveCart(request, kept)
    return reply.redirect('/cart', 303)
  })

  app.get('/', async (request, reply) => {
    const lines = await linesOf(app, request)
    reply.header('cache-control', 'no-store')
    const rows: CartRow[] = lines.map(({ content, amount }) => ({
      slug: content.slug, title: content.title, kind: content.kind, amountCents: amount, currency: content.currency, payWhatYouWant: content.pay_what_you_want === 1
    }))
    return await reply.page('pages/cart.eta', {
      title: 'Your cart',
      rows,
      totalCents: rows.reduce((sum, row) => sum + row.amountCents, 0),
      currency: rows[0]?.currency ?? config.currency,
      askEmail: request.user === null && config.guestCheckout && !payments.collectsEmail,
      signInFirst: request.user === null && !config.guestCheckout
    }, { csrf: true })
  })

  app.post<{ Body: CheckoutBody }>('/checkout', {
    onRequest: async (request, reply) => { if (!config.guestCheckout) return await app.requireUser(request, reply) },
    config: { rateLimited: true },
    schema: { body: checkoutBody }
  }, async (request, reply) => {
    const lines = await linesOf(app, request)
    if (lines.length === 0) throw new HttpError(400, 'Your cart is empty: add an item before checking out. Nothing was charged.')
    let email: string | null = null
    if (request.user === null && !payments.collectsEmail) {
      email = guestAddress(request.body?.email)
      if (email === null || !EMAIL.test(email)) throw new HttpError(400, 'Type the email address the receipt and download links should go to. Nothing was charged.')
    }
    const buyer = request.user ?? await browserGuest(app, request)
    const started = await checkout.startCart(buyer, lines, { email })
    if (request.user === null) rememberGuestOrder(request, started.orderId)
    request.session.set('cartOrder', started.orderId)
    return reply.redirect(started.url, 303)
  })
}

/** An item or bundle on sale (unknown and unpublished slugs are 404s alike: strangers do not see them). */
async function onSale (app: FastifyInstance, request: FastifyRequest, slug: string): Promise<Content> {
  const content = await app.catalog.find(slug)
  if (content === undefined || content.published !== 1) throw new HttpError(404, `${NOT_FOUND.item} Nothing was added to your cart.`)
  return content
}

/** The amount of the entry: the price, or what the buyer typed for a pay-what-you-want item, checked as the Buy form's. */
function amountOf (content: Content, typed: string | undefined): number {
  if (content.pay_what_you_want !== 1) return content.price_cents
  const chosen = chosenAmount(content, typed)
  if (chosen.problem !== undefined) throw new HttpError(400, `${chosen.problem} Nothing was added to your cart; go back to the item to change the amount.`)
  return chosen.amount
}

/** The reader has it already (bought, taken free, every item of a bundle); a guest: bought in this browser. */
async function alreadyHas (app: FastifyInstance, request: FastifyRequest, content: Content): Promise<boolean> {
  const { catalog, orders } = app
  if (request.user !== null) return await catalog.owns(request.user.id, content.id) || (!isFree(content) && await catalog.keeps(request.user.id, content))
  for (const id of guestOrders(request)) {
    const order = await orders.find(id)
    if (order?.status === 'paid' && (await orders.lines(id)).some((line) => line.content_id === content.id)) return true
  }
  return false
}

/**
 * The cart's entries as lines to pay: still on sale, not had already, at today's price (a
 * pay-what-you-want amount as chosen, if still at least the minimum). What dropped out is
 * said in a flash and left out of the cart.
 */
async function linesOf (app: FastifyInstance, request: FastifyRequest): Promise<CartLine[]> {
  const entries = cartEntries(request)
  const lines: CartLine[] = []
  const kept: CartEntry[] = []
  for (const entry of entries) {
    const content = await app.catalog.find(entry.slug)
    if (content === undefined || content.published !== 1) {
      request.flash('error', 'An item in your cart is no longer on sale, so it was taken out.')
      continue
    }
    if (await alreadyHas(app, request, content)) {
      request.flash('info', `You already have "${content.title}", so it was taken out of your cart.`)
      continue
    }
    const amount = content.pay_what_you_want === 1 ? entry.amount ?? -1 : content.price_cents
    if (amount <= 0 || (content.pay_what_you_want === 1 && amount < content.min_price_cents)) {
      request.flash('error', `"${content.title}" changed its price, so it was taken out of your cart: add it again from its page.`)
      continue
    }
    lines.push({ content, amount })
    kept.push(entry)
  }
  if (kept.length !== entries.length) saveCart(request, kept)
  return lines
}

export default cartRoutes
