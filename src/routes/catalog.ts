import type { SendOptions } from '@fastify/static'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { Content } from '../db/types.js'
import { HttpError } from '../plugins/errors.js'
import { loginUrl } from '../plugins/auth.js'

const slugParams = {
  type: 'object',
  properties: { slug: { type: 'string', maxLength: 200 } },
  required: ['slug']
} as const

const catalogRoutes: FastifyPluginAsync = async (app) => {
  const { catalog } = app

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
    return reply.viewAsync('pages/catalog.eta', { title: 'Catalogue', catalog: await catalog.page(page) })
  })

  app.get('/content/:slug', { schema: { params: slugParams } }, async (request, reply) => {
    const content = contentOr404(request)
    const user = request.user
    return reply.viewAsync('pages/content.eta', {
      title: content.title,
      content,
      canDownload: user !== null && catalog.canDownload(user.id, content),
      csrfToken: reply.generateCsrf()
    })
  })

  app.get('/content/:slug/preview', { schema: { params: slugParams } }, async (request, reply) => {
    const content = contentOr404(request)
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
    reply.header('cache-control', 'private')
    reply.header('x-content-type-options', 'nosniff')
    // @fastify/send gives Range (206/416), HEAD, ETag and Last-Modified; the name is our slug.
    // (`root` is accepted by download() though its type does not list it.)
    return reply.download(content.file_key, `${content.slug}.pdf`, { root: app.files.dir, cacheControl: false } as SendOptions)
  })
}
export default catalogRoutes
