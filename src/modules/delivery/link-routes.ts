import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { LinkPage } from './pages.js'
import { DownloadLimitReached, pdfSender } from './send-pdf.js'

/**
 * GET /d/<token>: the emailed download link. No sign-in: holding a link we signed is enough
 * until it expires, while its order is paid, up to DOWNLOAD_LIMIT downloads. An item unpublished
 * since still reaches its buyer; the latest version is sent.
 */
const downloadLinkRoutes: FastifyPluginAsync = async (app) => {
  const { links, downloads, catalog, config, settings } = app
  const sendPdf = pdfSender(app)

  const titles: Record<LinkPage['state'], string> = {
    invalid: 'This download link does not work',
    expired: 'This download link has expired',
    refunded: 'This purchase was refunded',
    unpaid: 'This order was not paid',
    limit: 'Download limit reached'
  }

  /** The page in place of the PDF; the fresh-link form works for visitors who are not signed in too. */
  async function linkPage (reply: FastifyReply, status: number, page: Omit<LinkPage, 'status' | 'freshLinkCsrf' | 'contactEmail' | 'days'>): Promise<FastifyReply> {
    return await reply.page('pages/download-link.eta', {
      title: titles[page.state],
      status,
      ...page,
      // Starts a session for a signed-out visitor, so POST /links can check the token.
      freshLinkCsrf: reply.generateCsrf(),
      contactEmail: (await settings.fresh()).contactEmail,
      days: links.days
    }, { status })
  }

  app.get<{ Params: { token: string } }>('/d/:token', {
    schema: { params: { type: 'object', properties: { token: { type: 'string', maxLength: 300 } }, required: ['token'] } }
  }, async (request, reply) => {
    const check = links.verify(request.params.token)
    if (!check.ok && check.reason === 'invalid') return await linkPage(reply, 404, { state: 'invalid', itemTitle: null, expiredAt: null })
    const order = await downloads.linkOrder(check.orderId)
    const content = order === undefined ? undefined : await catalog.findById(order.content_id)
    // Signed by us, but the order or its item is gone (a development flush): nothing to serve.
    if (order === undefined || content === undefined) return await linkPage(reply, 404, { state: 'invalid', itemTitle: null, expiredAt: null })
    const itemTitle = content.title
    // Refunded first: a fresh link would not help a refunded order.
    if (order.status === 'refunded') return await linkPage(reply, 410, { state: 'refunded', itemTitle, expiredAt: null })
    if (order.status !== 'paid') return await linkPage(reply, 410, { state: 'unpaid', itemTitle, expiredAt: null })
    if (!check.ok) return await linkPage(reply, 410, { state: 'expired', itemTitle, expiredAt: check.expiresAt.toISOString() })
    const file = { key: content.file_key, version: await catalog.latestVersion(content.id), name: `${content.slug}.pdf`, size: content.file_size }
    try {
      return await sendPdf(request, reply, content, file, {
        orderId: order.id, userId: order.user_id, email: order.email, via: 'link', limit: config.downloadLimit
      })
    } catch (error) {
      if (!(error instanceof DownloadLimitReached)) throw error
      return await linkPage(reply, 403, { state: 'limit', itemTitle, expiredAt: null, limit: error.limit })
    }
  })
}
export default downloadLinkRoutes
