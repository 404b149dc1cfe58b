import type { SendOptions } from '@fastify/static'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Content } from '../db/types.js'
import { HttpError } from '../plugins/errors.js'
import { loginUrl } from '../plugins/auth.js'
import { LAYOUT, viewContext } from '../plugins/views.js'
import type { CatalogPage } from '../services/catalog.js'

const slugParams = {
  type: 'object',
  properties: { slug: { type: 'string', maxLength: 200 } },
  required: ['slug']
} as const

// A row whose file is gone (deleted by hand, an incomplete restore) is the shop's fault, not
// the visitor's: a 503 page that says so and what to do, while /healthz reports it.
const MISSING_PDF = 'This PDF\'s file is missing from the store. The shop has been told; please try again later or contact the shop.'
const MISSING_PREVIEW = 'This item\'s preview image is missing from the store. The shop has been told; please try again later or contact the shop.'

const catalogRoutes: FastifyPluginAsync = async (app) => {
  const { catalog } = app
  const grids = new WeakMap<CatalogPage, string>()

  function contentOr404 (request: FastifyRequest): Content {
    const { slug } = request.params as { slug: string }
    const content = catalog.find(slug)
    if (content === undefined) throw new HttpError(404, 'There is no item at this address. It may have been removed.')
    return content
  }

  app.get('/', {
    schema: { querystring: { type: 'object', properties: { page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 } } } }
  }, async (request, reply) => {
    const { page } = request.query as { page: number }
    const current = await catalog.page(page)
    // An empty catalogue shows admins the upload button: that page depends on who looks.
    if (current.items.length === 0) return reply.viewAsync('pages/catalog.eta', { title: 'Catalogue', catalog: current })
    // The grid is the same for everyone: rendered once per catalogue state (catalog.page hands
    // back a new object when the catalogue changes) and wrapped per request in the layout,
    // which carries the visitor's own name and CSRF token.
    let grid = grids.get(current)
    if (grid === undefined) {
      grid = app.eta.render('pages/catalog.eta', { ...viewContext, catalog: current })
      grids.set(current, grid)
    }
    const html = app.eta.render(LAYOUT, { ...viewContext, ...reply.locals, title: 'Catalogue', body: grid })
    return reply.type('text/html; charset=utf-8').send(html)
  })

  /** One stat before sending: @fastify/send would answer a missing file with a plain 404. */
  async function requireFile (request: FastifyRequest, content: Content, key: string, message: string): Promise<void> {
    if (await app.files.exists(key)) return
    request.log.error({ slug: content.slug, key }, 'a stored file of this item is missing from CONTENT_DIR')
    throw new HttpError(503, message)
  }

  app.get('/content/:slug', { schema: { params: slugParams } }, async (request, reply) => {
    const content = contentOr404(request)
    const user = request.user
    return reply.viewAsync('pages/content.eta', {
      title: content.title,
      content,
      canDownload: user !== null && catalog.canDownload(user.id, content),
      // Only a signed-in visitor can buy (checkout sends others to sign in first); making a
      // token for anyone else would start a session and send a cookie with every page.
      csrfToken: user === null ? '' : reply.generateCsrf()
    })
  })

  app.get('/content/:slug/preview', { schema: { params: slugParams } }, async (request, reply) => {
    const content = contentOr404(request)
    await requireFile(request, content, content.preview_key, MISSING_PREVIEW)
    // Keys are random and never reused, so a preview never changes under its URL.
    return reply.sendFile(content.preview_key, app.files.dir, { maxAge: '1d', immutable: false })
  })

  app.get('/content/:slug/download', { schema: { params: slugParams } }, async (request, reply) => {
    const content = contentOr404(request)
    const user = request.user
    if (user === null) return reply.redirect(loginUrl(request.url))
    if (!catalog.canDownload(user.id, content)) {
      throw new HttpError(403, `You do not own "${content.title}" yet. Buy it from its page to download it.`)
    }
    await requireFile(request, content, content.file_key, MISSING_PDF)
    if (content.price_cents === 0) catalog.rememberFreeDownload(user.id, content.id)
    reply.header('cache-control', 'private')
    reply.header('x-content-type-options', 'nosniff')
    // @fastify/send gives Range (206/416), HEAD, ETag and Last-Modified; the name is our slug.
    // (`root` is accepted by download() though its type does not list it.)
    return reply.download(content.file_key, `${content.slug}.pdf`, { root: app.files.dir, cacheControl: false } as SendOptions)
  })
}
export default catalogRoutes
