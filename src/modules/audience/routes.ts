import type { FastifyPluginAsync } from 'fastify'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import { isFree } from '../../lib/pricing.js'
import { guestAddress } from '../purchase/plugin.js'
import { EMAIL } from '../settings/plugin.js'
import { freeOrder } from './free.js'
import type { FreePage } from './pages.js'

const MAX_EMAIL = 254
const tokenParams = { type: 'object', properties: { token: { type: 'string', maxLength: 800 } }, required: ['token'] } as const
const slugParams = { type: 'object', properties: { slug: { type: 'string', maxLength: 200 } }, required: ['slug'] } as const
const BAD_LINK = 'This unsubscribe link is not one we sent, or part of it was lost when it was copied. Use the whole link from the mail.'

/** One-click unsubscribe (RFC 8058) and free items by email. */
const audienceRoutes: FastifyPluginAsync = async (app) => {
  const { audience, catalog, outbox, config, database } = app

  // A GET changes nothing (mail scanners follow links): it shows the button.
  app.get<{ Params: { token: string } }>('/unsubscribe/:token', { schema: { params: tokenParams } }, async (request, reply) => {
    const email = audience.addressOf(request.params.token)
    if (email === null) throw new HttpError(404, BAD_LINK)
    return await reply.page('pages/unsubscribe.eta', { title: 'Unsubscribe', email, done: await audience.isUnsubscribed(email) })
  })

  // The one-click POST a mail client sends (body List-Unsubscribe=One-Click) carries no CSRF
  // token and no cookie: the signed token in the URL is the authority, and all it can do is stop
  // updates and messages to the address it names.
  app.post<{ Params: { token: string } }>('/unsubscribe/:token', { config: { csrf: false }, schema: { params: tokenParams } }, async (request, reply) => {
    const email = audience.addressOf(request.params.token)
    if (email === null) throw new HttpError(404, BAD_LINK)
    await audience.unsubscribe(email)
    request.log.info('unsubscribed from updates and messages')
    return await reply.page('pages/unsubscribe.eta', { title: 'Unsubscribed', email, done: true })
  })

  app.post<{ Params: { slug: string }, Body: { email?: string, consent?: string } }>('/content/:slug/free', {
    config: { rateLimited: true },
    schema: { params: slugParams, body: { type: 'object', properties: { email: { type: 'string', maxLength: 1000 }, consent: { type: 'string', maxLength: 10 } } } }
  }, async (request, reply) => {
    const content = await catalog.find(request.params.slug)
    if (content === undefined || content.published !== 1) throw new HttpError(404, NOT_FOUND.item)
    if (!isFree(content)) throw new HttpError(409, 'This item is not free: buy it from its page.')
    if (!outbox.enabled) throw new HttpError(409, 'This store sends no mail at the moment: sign in to download the item.')
    const email = (request.body?.email ?? '').trim()
    const page: FreePage = { slug: content.slug, itemTitle: content.title, email: email.slice(0, MAX_EMAIL), problem: null, sent: false, days: config.downloadLinkDays }
    const address = guestAddress(email)
    if (email.length > MAX_EMAIL || !EMAIL.test(email) || address === null) {
      return await reply.page('pages/free-sent.eta', { title: content.title, ...page, problem: 'Type your email address, like you@example.com.' }, { status: 400, csrf: true })
    }
    const consent = request.body?.consent === '1'
    const orderId = await freeOrder(database.db, database.runner, content, address)
    await audience.remember(address, consent)
    const outcome = await outbox.queueFree(address, orderId)
    request.log.info({ slug: content.slug, outcome, consent }, 'free item asked for by email')
    // The same answer when the hourly allowance of the address was used up.
    return await reply.page('pages/free-sent.eta', { title: 'Check your email', ...page, sent: true })
  })
}
export default audienceRoutes
