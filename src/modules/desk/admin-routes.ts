import type { FastifyPluginAsync } from 'fastify'
import { uploadAllowanceMs } from '../../config.js'
import type { UploadForm } from './pages.js'
import multipart from '../../http/plugins/multipart.js'
import { MAX_PREVIEW_BYTES } from '../items/uploads.js'
import { priceInput } from '../../lib/money.js'
import { itemPath } from '../../lib/slugs.js'
import adminSalesRoutes from './routes.js'
import adminItemRoutes from '../items/routes.js'
import { allParts, readLeadingFields } from '../../http/multipart-form.js'
import settingsRoutes from '../settings/routes.js'

const adminRoutes: FastifyPluginAsync = async (app) => {
  const { config, catalog } = app
  app.addHook('onRequest', app.requireAdmin)
  await app.register(multipart, { maxFileBytes: Math.max(config.maxUploadBytes, MAX_PREVIEW_BYTES) })
  // Dashboard, orders, refunds, CSV and customers: inside this plugin, so behind the same guard.
  await app.register(adminSalesRoutes)

  const uploadLimit = config.maxUploadBytes + MAX_PREVIEW_BYTES + 1024 * 1024
  // The price field speaks the store's currency: its code, and the decimals it is written with.
  const form = (values: UploadForm['values'] = { title: '', description: '', price: '' }, problems: UploadForm['problems'] = {}) => ({
    title: 'Upload a PDF', values, problems, maxUploadMb: config.maxUploadBytes / 1024 / 1024, price: priceInput(config.currency)
  })

  // The items after upload: list, edit, publish, delete (behind the same guard).
  await app.register(adminItemRoutes)
  // Store settings (name, tagline, contact, policy).
  await app.register(settingsRoutes)

  app.get('/content/new', async (_request, reply) => await reply.page('pages/admin-new.eta', form()))

  app.post('/content', {
    bodyLimit: uploadLimit,
    config: { bodyDeadlineMs: uploadAllowanceMs(config) },
    // An upload that says up front it is too large is refused before a byte of it is read.
    onRequest: async (request, reply) => {
      if (Number(request.headers['content-length'] ?? 0) <= uploadLimit) return
      request.log.info({ contentLength: request.headers['content-length'] }, 'upload refused: declared larger than the limit')
      // Closing the connection spares reading the rest of a body nobody wants.
      reply.header('connection', 'close')
      const problem = `The upload is larger than ${config.maxUploadBytes / 1024 / 1024} MB, so nothing was stored. Choose a smaller PDF.`
      return await reply.page('pages/admin-new.eta', form(undefined, { file: problem }), { status: 400 })
    },
    preValidation: readLeadingFields
  }, async (request, reply) => {
    const upload = request.upload!
    const result = await catalog.receiveUpload(allParts(upload), upload.fields)
    if (result.content === undefined) {
      return await reply.page('pages/admin-new.eta', form(result.values, result.problems), { status: result.status })
    }
    request.log.info({ slug: result.content.slug, size: result.content.file_size }, 'content uploaded')
    request.flash('info', `"${result.content.title}" is now in the catalogue.`)
    return await reply.redirect(itemPath(result.content.slug), 303)
  })

  // Operators' reset for development data; it does not exist in production.
  if (!config.production) {
    app.post('/flush', async (request, reply) => {
      const removed = await catalog.flush()
      request.log.warn(removed, 'development data flushed')
      request.flash('info', `Flushed ${removed.content} items and ${removed.files} files. Users were kept.`)
      return await reply.redirect('/', 303)
    })
  }
}
export default adminRoutes
