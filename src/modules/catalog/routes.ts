import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Content } from '../../db/types.js'
import { HttpError, NOT_FOUND } from '../../http/errors.js'
import { viewContext } from '../../http/plugins/view.js'
import { type CatalogPage, SORTS } from './catalog.js'
import type { BundlePage } from './pages.js'
import { priceInput, toDecimal } from '../../lib/money.js'
import { isFree } from '../../lib/pricing.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'
import { sendObject } from '../delivery/plugin.js'

// A row whose file is gone (deleted by hand, an incomplete restore) is the shop's fault, not
// the visitor's: a 503 page that says so and what to do, while /healthz reports it.
const MISSING_PREVIEW = 'This item\'s preview image is missing from the store. The shop has been told; please try again later or contact the shop.'

const catalogRoutes: FastifyPluginAsync = async (app) => {
  const { catalog, items, files, payments } = app
  const provider = payments.name === 'mollie' ? 'Mollie' : 'Stripe'
  const grids = new WeakMap<CatalogPage, string>()

  /** The item, if this visitor may see it: an unpublished one is not there for strangers. */
  async function contentOr404 (request: FastifyRequest, slug: string): Promise<Content> {
    const content = await catalog.find(slug)
    if (content === undefined || !await catalog.canView(request.user, content)) throw new HttpError(404, NOT_FOUND.item)
    return content
  }

  /** One stat before sending: @fastify/send would answer a missing file with a plain 404. */
  async function requireFile (request: FastifyRequest, content: Content, key: string, message: string): Promise<void> {
    if (await files.exists(key)) return
    request.log.error({ slug: content.slug, key }, 'a stored file of this item is missing from CONTENT_DIR')
    throw new HttpError(503, message)
  }

  /** What the bundle's page lists: its items, which of them the reader holds, and whether all. */
  async function bundleOf (userId: number | null, bundleId: number): Promise<BundlePage> {
    const entries = await catalog.bundleItems(bundleId)
    const items = await Promise.all(entries.map(async (entry) => ({ ...entry, held: userId !== null && await catalog.owns(userId, entry.id) })))
    return { items, ownsAll: items.length > 0 && items.every((item) => item.held) }
  }

  // Both pages are the same for every anonymous visitor and for each signed-in user but for the
  // CSRF token: kept until the database changes (page-cache.ts).
  app.get<{ Querystring: { page: number, q?: string, sort?: string } }>('/', {
    config: { pageCache: true },
    schema: {
      querystring: {
        type: 'object',
        properties: {
          page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 },
          // Free text: whatever is typed is searched for as words (catalog.search), never refused.
          q: { type: 'string' },
          // An order the catalogue does not know falls back to the default rather than an error page.
          sort: { type: 'string' }
        }
      }
    }
  }, async (request, reply) => {
    const { page, q = '' } = request.query
    const sort = SORTS.find((name) => name === request.query.sort) ?? null
    const query = q.trim()
    // The grid is the same for everyone: rendered once per catalogue state (catalog.page and
    // catalog.search hand back a new object when the catalogue changes); the page around it
    // carries the visitor.
    const current = query === '' ? await catalog.page(page, sort) : await catalog.search(query, page, sort)
    let grid = current.items.length === 0 ? null : grids.get(current) ?? null
    if (grid === null && current.items.length > 0) {
      grid = app.eta.render('partials/catalog-grid.eta', { ...viewContext, catalog: current })
      grids.set(current, grid)
    }
    return await reply.page('pages/catalog.eta', { title: query === '' ? 'Catalogue' : `Search: ${query.slice(0, 60)}`, catalog: current, grid })
  })

  app.get<{ Params: SlugParams }>('/content/:slug', { config: { pageCache: true }, schema: { params: slugParams } }, async (request, reply) => {
    const content = await contentOr404(request, request.params.slug)
    const user = request.user
    // A signed-out visitor can buy straight away: the Buy form needs its CSRF token.
    const guestCheckout = user === null && app.config.guestCheckout && content.published === 1 && !isFree(content)
    // A signed-out visitor may have a free item by email, when mail goes out.
    const byEmail = user === null && content.published === 1 && isFree(content) && app.outbox.enabled
    const isBundle = content.kind === 'bundle'
    // A bundle has no file of its own: its items are downloaded from their pages and the library.
    const canDownload = !isBundle && user !== null && await catalog.canDownload(user, content)
    return await reply.page('pages/content.eta', {
      title: content.title,
      content,
      canDownload,
      bundle: isBundle ? await bundleOf(user?.id ?? null, content.id) : null,
      alsoIn: isBundle ? [] : await catalog.bundlesHolding(content.id),
      refunded: user !== null && !canDownload && await catalog.refunded(user.id, content.id),
      versions: await items.versions(content.id),
      // The page images made so far: the strip shows once they are (the cover alone until then).
      strip: await app.pdf.strip(content),
      guestCheckout,
      buying: {
        free: isFree(content),
        amount: priceInput(content.currency),
        suggested: toDecimal(content.price_cents, content.currency),
        askEmail: guestCheckout && !payments.collectsEmail,
        provider,
        byEmail
      }
    }, { csrf: guestCheckout || byEmail })
  })

  app.get<{ Params: SlugParams }>('/content/:slug/preview', { schema: { params: slugParams } }, async (request, reply) => {
    const content = await contentOr404(request, request.params.slug)
    await requireFile(request, content, content.preview_key, MISSING_PREVIEW)
    // Keys are random and never reused, so a preview never changes under its URL.
    if (files.kind === 's3') {
      return await sendObject(request, reply, files, content.preview_key, { missing: MISSING_PREVIEW, headers: { 'cache-control': 'public, max-age=86400' } })
    }
    return await reply.sendFile(content.preview_key, files.dir, { maxAge: '1d', immutable: false })
  })
}
export default catalogRoutes
