import type { MultipartFile, Multipart } from '@fastify/multipart'
import multipart from '@fastify/multipart'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { uploadAllowanceMs } from '../config.js'
import { ensurePageLocals, HttpError } from '../plugins/errors.js'
import { type ContentFields, type ContentProblems, checkFields, MAX_PREVIEW_BYTES } from '../services/catalog.js'
import { DomainError } from '../services/errors.js'
import type { PendingFile } from '../services/file-store.js'
import { priceInput } from '../services/money.js'

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

  await app.register(multipart, {
    // The file store refuses each kind of file past its own limit while it streams (nothing more
    // is written); this outer cut-off only bounds what is read, and flags the stream truncated
    // instead of throwing, so the answer is the form with its message (400), not a bare 413.
    throwFileSizeLimit: false,
    limits: {
      fileSize: Math.max(config.maxUploadBytes, MAX_PREVIEW_BYTES) + 1,
      files: 2,
      fields: 10,
      parts: 12,
      fieldSize: 64 * 1024,
      headerPairs: 100
    }
  })

  // The price field speaks the store's currency: its code, and the decimals it is written with.
  const price = priceInput(config.currency)

  const uploadLimit = config.maxUploadBytes + MAX_PREVIEW_BYTES + 1024 * 1024
  const form = (values: ContentFields, problems: ContentProblems, csrfToken: string) => ({
    title: 'Upload a PDF', values, problems, csrfToken, maxUploadMb: config.maxUploadBytes / 1024 / 1024, price
  })

  app.get('/content/new', async (request, reply) => {
    return reply.viewAsync('pages/admin-new.eta', form({ title: '', description: '', price: '' }, {}, reply.generateCsrf()))
  })

  app.post('/content', {
    bodyLimit: uploadLimit,
    config: { bodyDeadlineMs: uploadAllowanceMs(config) },
    // An upload that says up front it is too large is refused before a byte of it is read.
    onRequest: async (request, reply) => {
      if (Number(request.headers['content-length'] ?? 0) <= uploadLimit) return
      request.log.info({ contentLength: request.headers['content-length'] }, 'upload refused: declared larger than the limit')
      ensurePageLocals(request, reply)
      // Closing the connection spares reading the rest of a body nobody wants.
      reply.header('connection', 'close')
      const page = await reply.viewAsync('pages/admin-new.eta', form({ title: '', description: '', price: '' },
        { file: `The upload is larger than ${config.maxUploadBytes / 1024 / 1024} MB, so nothing was stored. Choose a smaller PDF.` }, reply.generateCsrf()))
      // A hook's return value is not sent: send the page ourselves, which ends the request here.
      return await reply.code(400).type('text/html; charset=utf-8').send(page)
    },
    preValidation: readLeadingFields
  }, async (request, reply) => {
    const upload = request.upload!
    const problems: ContentProblems = {}
    let pdf: (PendingFile & { originalName: string }) | undefined
    let preview: PendingFile | undefined
    const received: PendingFile[] = []
    let stored = false
    try {
      for await (const part of allParts(upload)) {
        if (part.type === 'field') { upload.fields[part.fieldname] = String(part.value); continue }
        const slot = part.fieldname === 'file' ? 'file' : part.fieldname === 'preview' ? 'preview' : undefined
        // A file input left empty is sent as a part with no file name and no bytes: nothing chosen.
        const nothingChosen = part.filename === ''
        if (slot === undefined || nothingChosen || (slot === 'file' ? pdf : preview) !== undefined || problems[slot] !== undefined) {
          part.file.resume() // not ours, none chosen, or a second one: read past it
          continue
        }
        try {
          if (slot === 'file') {
            pdf = { ...await catalog.receivePdf(part.file), originalName: part.filename }
            received.push(pdf)
          } else {
            preview = await catalog.receivePreview(part.file)
            received.push(preview)
          }
        } catch (error) {
          if (!(error instanceof DomainError)) throw error
          problems[slot] = error.message
        }
      }
      const values: ContentFields = { title: upload.fields.title ?? '', description: upload.fields.description ?? '', price: upload.fields.price ?? '' }
      Object.assign(problems, checkFields(values, config.currency))
      if (pdf === undefined && problems.file === undefined) problems.file = 'Choose a PDF to sell.'
      if (preview === undefined && problems.preview === undefined) problems.preview = 'Choose a cover image (PNG, JPEG or WebP).'

      let status = 400
      if (Object.keys(problems).length === 0) {
        try {
          const content = await catalog.create(values, pdf!, preview!)
          stored = true
          request.log.info({ slug: content.slug, size: content.file_size }, 'content uploaded')
          request.flash('info', `"${content.title}" is now in the catalogue.`)
          return reply.redirect(`/content/${content.slug}`, 303)
        } catch (error) {
          if (!(error instanceof DomainError) || error.kind !== 'conflict') throw error
          problems.title = error.message
          status = 409
        }
      }
      ensurePageLocals(request, reply)
      return reply.code(status).viewAsync('pages/admin-new.eta', form(values, problems, reply.generateCsrf()))
    } finally {
      // A rejected or failed upload leaves no file behind.
      if (!stored) await Promise.all(received.map(async (file) => { await app.files.discard(file) }))
    }
  })

  // Operators' reset for development data; it does not exist in production.
  if (!config.production) {
    app.post('/flush', async (request, reply) => {
      const removed = await catalog.flush()
      request.log.warn(removed, 'development data flushed')
      request.flash('info', `Flushed ${removed.content} items and ${removed.files} files. Users were kept.`)
      return reply.redirect('/', 303)
    })
  }
}
export default adminRoutes
