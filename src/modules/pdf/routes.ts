import { createWriteStream } from 'node:fs'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { SendOptions } from '@fastify/static'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Content, PdfAsset } from '../../db/types.js'
import { bundleHasNoFile, HttpError, NOT_FOUND } from '../../http/errors.js'
import { allParts, readLeadingFields } from '../../http/multipart-form.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'
import { attachment } from '../../lib/slugs.js'
import { Inspector, sniffPdf } from '../../storage/store.js'
import { sendObject } from '../delivery/plugin.js'
import { inTempDir } from './files.js'
import type { Wait } from './service.js'

const NOT_READY = 'This is still being made from the PDF. Try again in a moment.'
const MISSING = 'This file is missing from the store. The shop has been told; please try again later.'

/** The item, if this visitor may see it: an unpublished one is not there for strangers; a bundle has no PDF to show. */
async function visible (app: FastifyInstance, request: FastifyRequest, slug: string): Promise<Content> {
  const content = await app.catalog.find(slug)
  if (content === undefined || !await app.catalog.canView(request.user, content)) throw new HttpError(404, NOT_FOUND.item)
  if (content.kind === 'bundle') throw new HttpError(404, bundleHasNoFile(content.title))
  return content
}

/** A made file from the store, inline (a page image) or as an attachment (the sample). */
async function sendAsset (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, content: Content, made: Wait<PdfAsset>, name: string | null): Promise<FastifyReply> {
  if (!made.ok) {
    if (made.why === 'timeout') reply.header('retry-after', '5')
    throw new HttpError(503, made.why === 'timeout' ? NOT_READY : 'This could not be made from the item\'s PDF. The shop has been told.')
  }
  const { files } = app
  const asset = made.value
  // The URL stays while a new version replaces what it shows: a short public cache, or none
  // outside the visitor's browser for an unpublished item.
  const cacheControl = content.published === 1 ? 'public, max-age=300' : 'private, max-age=300'
  const headers: Record<string, string> = { 'content-type': asset.content_type, 'cache-control': cacheControl, 'x-content-type-options': 'nosniff' }
  if (name !== null) headers['content-disposition'] = attachment(name)
  if (files.kind === 's3') return await sendObject(request, reply, files, asset.key, { missing: MISSING, headers })
  if (!await files.exists(asset.key)) {
    request.log.error({ slug: content.slug, key: asset.key }, 'a made file (page image or sample) is missing from CONTENT_DIR')
    throw new HttpError(503, MISSING)
  }
  reply.headers(headers)
  // sendFile keeps the headers set above (download() would write its own Content-Disposition).
  return await reply.sendFile(asset.key, files.dir, { cacheControl: false, contentType: false } as unknown as SendOptions)
}

/** GET /content/<slug>/pages/<n> and /content/<slug>/sample: for anyone who may see the item. */
export const pdfRoutes: FastifyPluginAsync = async (app) => {
  const { pdf } = app

  app.get<{ Params: SlugParams & { n: number } }>('/content/:slug/pages/:n', {
    schema: { params: { ...slugParams, properties: { ...slugParams.properties, n: { type: 'integer', minimum: 0, maximum: 100_000 } }, required: ['slug', 'n'] } }
  }, async (request, reply) => {
    const content = await visible(app, request, request.params.slug)
    const made = await pdf.page(content, request.params.n)
    if (made === undefined) throw new HttpError(404, `"${content.title}" shows ${content.preview_pages === 0 ? 'no pages' : 'its first pages only'}: there is no image of page ${request.params.n}.`)
    return await sendAsset(app, request, reply, content, made, null)
  })

  app.get<{ Params: SlugParams }>('/content/:slug/sample', { schema: { params: slugParams } }, async (request, reply) => {
    const content = await visible(app, request, request.params.slug)
    const made = await pdf.sample(content)
    if (made === undefined) throw new HttpError(404, `"${content.title}" has no free sample.`)
    return await sendAsset(app, request, reply, content, made, `${content.slug}-sample.pdf`)
  })
}

/** GET and POST /admin/trace: which order a stamped copy was made for. */
export const adminPdfRoutes: FastifyPluginAsync = async (app) => {
  const { pdf, config } = app
  const page = async (reply: FastifyReply, data: { problem?: string, trace?: Awaited<ReturnType<typeof pdf.trace>> | null, fileName?: string }, status = 200): Promise<FastifyReply> =>
    await reply.page('pages/admin-trace.eta', { title: 'Trace a copy', problem: data.problem ?? null, trace: data.trace, fileName: data.fileName ?? null }, { status })

  app.get('/trace', async (_request, reply) => await page(reply, {}))

  app.post('/trace', {
    bodyLimit: config.maxUploadBytes + 1024 * 1024,
    preValidation: readLeadingFields
  }, async (request, reply) => {
    return await inTempDir(async (dir) => {
      const path = join(dir, 'copy.pdf')
      let fileName: string | undefined
      let problem: string | undefined
      for await (const part of allParts(request.upload!)) {
        if (part.type !== 'file') continue
        if (part.fieldname !== 'file' || fileName !== undefined || part.filename === '') { part.file.resume(); continue }
        fileName = part.filename
        const inspector = new Inspector({ label: 'PDF', maxBytes: config.maxUploadBytes, sniff: sniffPdf, wrongType: 'The file must be a PDF (it should start with %PDF-).' })
        await pipeline(part.file, inspector, createWriteStream(path))
        if (inspector.problem !== undefined) problem = inspector.problem.message
        else if (part.file.truncated) problem = 'That file is too large.'
      }
      if (fileName === undefined) return await page(reply, { problem: 'Choose the PDF you found (a copy downloaded from this store).' }, 400)
      if (problem !== undefined) return await page(reply, { problem, fileName }, 400)
      const trace = await pdf.trace(path)
      request.log.info({ found: trace !== undefined, orderId: trace?.orderId }, 'a copy was traced')
      return await page(reply, { trace: trace ?? null, fileName })
    })
  })
}
