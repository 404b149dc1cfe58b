import type { MultipartFile, Multipart } from '@fastify/multipart'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { uploadAllowanceMs } from '../config.js'
import { HttpError } from '../plugins/app/errors.js'
import type { UploadForm } from '../plugins/app/page.js'
import multipart from '../plugins/external/multipart.js'
import { MAX_PREVIEW_BYTES } from '../services/uploads.js'
import { priceInput } from '../services/money.js'
import settingsRoutes from './settings.js'

interface UploadStream {
  fields: Record<string, string>
  firstFile: MultipartFile | undefined
  rest: AsyncIterableIterator<Multipart>
}

declare module 'fastify' {
  interface FastifyRequest {
    upload?: UploadStream
  }
}

/**
 * Reads a multipart form's fields up to its first file and leaves the file unread, so the CSRF
 * check (a preHandler) runs on the `_csrf` field before any byte of a file is stored.
 */
async function readLeadingFields (request: FastifyRequest): Promise<void> {
  if (!request.isMultipart()) throw new HttpError(415, 'The upload form must be sent as multipart/form-data.')
  const rest = request.parts()
  const fields: Record<string, string> = {}
  let firstFile: MultipartFile | undefined
  for (;;) {
    const { value: part, done } = await rest.next()
    if (done === true) break
    if (part.type === 'file') { firstFile = part; break }
    fields[part.fieldname] = String(part.value)
  }
  request.body = fields
  request.upload = { fields, firstFile, rest }
}

async function * allParts (upload: UploadStream): AsyncGenerator<Multipart> {
  if (upload.firstFile !== undefined) yield upload.firstFile
  for await (const part of upload.rest) yield part
}

const adminRoutes: FastifyPluginAsync = async (app) => {
  const { config, catalog } = app
  app.addHook('onRequest', app.requireAdmin)
  await app.register(multipart)
  // Inside this plugin, so the admins-only hook above guards them too.
  await app.register(settingsRoutes)

  const uploadLimit = config.maxUploadBytes + MAX_PREVIEW_BYTES + 1024 * 1024
  // The price field speaks the store's currency: its code, and the decimals it is written with.
  const form = (values: UploadForm['values'] = { title: '', description: '', price: '' }, problems: UploadForm['problems'] = {}) => ({
    title: 'Upload a PDF', values, problems, maxUploadMb: config.maxUploadBytes / 1024 / 1024, price: priceInput(config.currency)
  })

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
    return await reply.redirect(`/content/${result.content.slug}`, 303)
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
