import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify'
import { loginUrl } from '../../http/auth.js'
import { bundleHasNoFile, HttpError, NOT_FOUND } from '../../http/errors.js'
import type { LinkPage } from './pages.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'
import { isFree } from '../../lib/pricing.js'
import type { Content } from '../../db/types.js'
import { DownloadLimitReached, type PdfFile, pdfSender } from './send-pdf.js'

const COPY_NOT_READY = 'Your own copy of this PDF is still being made. Try again in a moment.'

/**
 * The file a buyer downloads: with stamped copies on (settings), a paid item's buyer gets their
 * own copy of the version (made at the first download, by one job however many ask at once);
 * a version that cannot be stamped is sent as uploaded. Admins and free items are never stamped.
 */
async function buyersFile (app: FastifyInstance, reply: FastifyReply, content: Content, file: PdfFile, orderId: string | null, admin: boolean): Promise<PdfFile> {
  if (orderId === null || admin || isFree(content) || !(await app.settings.fresh()).stampPdfs) return file
  const copy = await app.pdf.copy(content, file.version, orderId)
  if (copy === undefined) return file
  if (!copy.ok) {
    reply.header('retry-after', '10')
    throw new HttpError(503, COPY_NOT_READY)
  }
  return { ...file, key: copy.value.key, size: copy.value.size }
}

/**
 * GET /content/<slug>/download: a signed-in reader's download from their library (or an admin's,
 * or anyone's of a free published item), the latest version or one asked for by ?version=.
 */
function libraryDownloadRoute (app: FastifyInstance): void {
  const { catalog, items, config } = app
  const sendPdf = pdfSender(app)
  app.get<{ Params: SlugParams, Querystring: { version?: string } }>('/content/:slug/download', {
    schema: { params: slugParams, querystring: { type: 'object', properties: { version: { type: 'string', maxLength: 20 } } } }
  }, async (request, reply) => {
    const content = await catalog.find(request.params.slug)
    // An unpublished item is not there for strangers.
    if (content === undefined || !await catalog.canView(request.user, content)) throw new HttpError(404, NOT_FOUND.item)
    if (content.kind === 'bundle') throw new HttpError(404, bundleHasNoFile(content.title))
    const user = request.user
    if (user === null) return reply.redirect(loginUrl(request.url))
    const asked = request.query.version
    if (asked !== undefined && !/^\d{1,9}$/.test(asked)) {
      throw new HttpError(400, 'The version must be a whole number, like ?version=1. The item\'s page lists its versions.')
    }
    if (!await catalog.canDownload(user, content)) {
      if (await catalog.refunded(user.id, content.id)) {
        throw new HttpError(403, `Your purchase of "${content.title}" was refunded, so it can no longer be downloaded. You can buy it again from its page.`)
      }
      throw new HttpError(403, `You do not own "${content.title}" yet. Buy it from its page to download it.`)
    }
    let file = { key: content.file_key, version: await items.latestVersion(content.id), name: `${content.slug}.pdf`, size: content.file_size }
    if (asked !== undefined && Number(asked) !== file.version) {
      const earlier = await items.version(content.id, Number(asked))
      if (earlier === undefined) throw new HttpError(404, `"${content.title}" has no version ${Number(asked)}. Its page lists the versions there are.`)
      file = { key: earlier.file_key, version: earlier.version, name: `${content.slug}-v${earlier.version}.pdf`, size: earlier.file_size }
    }
    const orderId = await catalog.libraryOrder(user.id, content.id) ?? null
    const limited = user.is_admin !== 1 && !isFree(content)
    file = await buyersFile(app, reply, content, file, orderId, user.is_admin === 1)
    return await sendPdf(request, reply, content, file, {
      orderId, userId: user.id, email: user.email, via: 'library', limit: limited ? config.downloadLimit : 0
    })
  })
}

/**
 * GET /d/<token>: the emailed download link. No sign-in: holding a link we signed is enough
 * until it expires, while its order is paid, up to DOWNLOAD_LIMIT downloads. An item unpublished
 * since still reaches its buyer; the latest version is sent.
 */
function emailedLinkRoute (app: FastifyInstance): void {
  const { links, downloads, catalog, items, config, settings } = app
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

  app.get<{ Params: { token: string }, Querystring: { item?: string } }>('/d/:token', {
    schema: {
      params: { type: 'object', properties: { token: { type: 'string', maxLength: 300 } }, required: ['token'] },
      querystring: { type: 'object', properties: { item: { type: 'string', maxLength: 200 } } }
    }
  }, async (request, reply) => {
    const check = links.verify(request.params.token)
    if (!check.ok && check.reason === 'invalid') return await linkPage(reply, 404, { state: 'invalid', itemTitle: null, expiredAt: null })
    const order = await downloads.linkOrder(check.orderId)
    let content = order === undefined ? undefined : await catalog.findById(order.content_id)
    // Signed by us, but the order or its item is gone (a development flush): nothing to serve.
    if (order === undefined || content === undefined) return await linkPage(reply, 404, { state: 'invalid', itemTitle: null, expiredAt: null })
    const itemTitle = content.title
    // Refunded first: a fresh link would not help a refunded order.
    if (order.status === 'refunded') return await linkPage(reply, 410, { state: 'refunded', itemTitle, expiredAt: null })
    if (order.status !== 'paid') return await linkPage(reply, 410, { state: 'unpaid', itemTitle, expiredAt: null })
    if (!check.ok) return await linkPage(reply, 410, { state: 'expired', itemTitle, expiredAt: check.expiresAt.toISOString() })
    if (content.kind === 'bundle') {
      // A bundle's order: the link lists its items, each downloaded by the same link with ?item=<slug>.
      const held = await catalog.bundleItems(content.id)
      const asked = request.query.item
      const chosen = asked === undefined ? undefined : held.find((entry) => entry.slug === asked)
      if (chosen === undefined) {
        if (asked !== undefined) throw new HttpError(404, `"${content.title}" holds no item at this address. The link's page lists what it holds.`)
        return await reply.page('pages/download-bundle.eta', { title: content.title, bundle: content, items: held, token: request.params.token, days: links.days })
      }
      content = (await catalog.findById(chosen.id))!
    }
    const latest = { key: content.file_key, version: await items.latestVersion(content.id), name: `${content.slug}.pdf`, size: content.file_size }
    const file = await buyersFile(app, reply, content, latest, order.id, false)
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

/** The downloads: from the library, and by emailed link. */
const downloadRoutes: FastifyPluginAsync = async (app) => {
  libraryDownloadRoute(app)
  emailedLinkRoute(app)
}
export default downloadRoutes
