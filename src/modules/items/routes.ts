import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { uploadAllowanceMs } from '../../config.js'
import type { Content, ContentVersion } from '../../db/types.js'
import { localPath } from '../../http/auth.js'
import { HttpError, NOT_FOUND, statusOfKind } from '../../http/errors.js'
import { allParts, readLeadingFields, type UploadStream } from '../../http/multipart-form.js'
import type { EditForm, UploadForm } from './pages.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'
import { DomainError } from '../../lib/errors.js'
import { priceInput, toDecimal } from '../../lib/money.js'
import { itemPath } from '../../lib/slugs.js'
import { bundleEditPage, bundleRoutes } from './bundle-routes.js'
import type { PaymentLinkLookup } from './edit.js'
import { DEFAULT_PREVIEW_FIELDS, type FormEntry, MAX_PREVIEW_BYTES } from './uploads.js'

/**
 * What the creator hears about a new PDF the engine could not read (accepted as uploaded) or
 * cannot stamp (its buyers get it unstamped); null when neither.
 */
function readingNotice (version: ContentVersion | undefined): string | null {
  if (version === undefined || version.stamp_problem === null) return null
  if (version.page_count === null) return `This PDF could not be read: ${version.stamp_problem} It is for sale as uploaded, without page images, a sample or a stamp. Check that it opens, or upload a new version.`
  return `Buyers will get this PDF unstamped when stamped copies are on: ${version.stamp_problem}`
}

/** The multipart parser's parts, from the form's first file on, as the services take them. */
async function * formEntries (upload: UploadStream): AsyncGenerator<FormEntry> {
  for await (const part of allParts(upload)) {
    if (part.type === 'field') yield { name: part.fieldname, value: String(part.value) }
    else yield { name: part.fieldname, fileName: part.filename, stream: part.file }
  }
}

/** The largest form the upload and edit routes read: the PDF, the cover and the text fields. */
const uploadLimitOf = (app: FastifyInstance): number => app.config.maxUploadBytes + MAX_PREVIEW_BYTES + 1024 * 1024

async function itemOr404 (app: FastifyInstance, slug: string): Promise<Content> {
  const content = await app.catalog.find(slug)
  if (content === undefined) throw new HttpError(404, NOT_FOUND.item)
  return content
}

/** A new item: the form, and its upload (streamed to the store; refused whole when declared too large). */
async function uploadRoutes (app: FastifyInstance): Promise<void> {
  const { config, items } = app
  const uploadLimit = uploadLimitOf(app)
  const form = (values: UploadForm['values'] = { title: '', description: '', price: '', ...DEFAULT_PREVIEW_FIELDS }, problems: UploadForm['problems'] = {}) => ({
    title: 'Upload a PDF', values, problems, maxUploadMb: config.maxUploadBytes / 1024 / 1024, price: priceInput(config.currency)
  })

  app.get('/content/new', async (_request, reply) => await reply.page('pages/admin-new.eta', form()))

  app.post('/content', {
    bodyLimit: uploadLimit,
    config: { bodyDeadlineMs: uploadAllowanceMs(config) },
    // A form that says up front it is too large is refused before a byte is read.
    onRequest: async (request, reply) => {
      if (Number(request.headers['content-length'] ?? 0) <= uploadLimit) return
      request.log.info({ contentLength: request.headers['content-length'] }, 'upload refused: declared larger than the limit')
      reply.header('connection', 'close')
      const problem = `The upload is larger than ${config.maxUploadBytes / 1024 / 1024} MB, so nothing was stored. Choose a smaller PDF.`
      return await reply.page('pages/admin-new.eta', form(undefined, { file: problem }), { status: 400 })
    },
    preValidation: readLeadingFields
  }, async (request, reply) => {
    const upload = request.upload!
    const result = await items.receiveUpload(formEntries(upload), upload.fields)
    if (!result.ok) {
      return await reply.page('pages/admin-new.eta', form(result.values, result.problems), { status: statusOfKind(result.kind) })
    }
    request.log.info({ slug: result.content.slug, size: result.content.file_size }, 'content uploaded')
    request.flash('info', `"${result.content.title}" is now in the catalogue.`)
    const warning = readingNotice(await items.version(result.content.id, 1))
    if (warning !== null) request.flash('error', warning)
    return await reply.redirect(itemPath(result.content.slug), 303)
  })
}

/** An item's edit: the form, and the save (a new cover, a new PDF as the next version). */
async function editRoutes (app: FastifyInstance): Promise<void> {
  const { config, items, payments } = app
  // Payment Links are Stripe's: with Mollie the edit form shows the field disabled and refuses a value.
  const paymentLink: PaymentLinkLookup = payments.name === 'stripe' ? async (id) => await payments.paymentLink(id) : null
  const uploadLimit = uploadLimitOf(app)

  const editForm = async (content: Content, values?: EditForm['values'], problems: EditForm['problems'] = {}): Promise<EditForm & { title: string }> => ({
    title: `Edit ${content.title}`,
    content,
    values: values ?? {
      title: content.title,
      description: content.description,
      price: toDecimal(content.price_cents, content.currency),
      changelog: '',
      payment_link_id: content.payment_link_id ?? '',
      pay_what_you_want: content.pay_what_you_want === 1 ? '1' : '',
      min_price: toDecimal(content.min_price_cents, content.currency),
      preview_pages: String(content.preview_pages),
      sample_pages: String(content.sample_pages)
    },
    problems,
    latest: await items.version(content.id, await items.latestVersion(content.id)),
    paymentLinks: paymentLink !== null,
    maxUploadMb: config.maxUploadBytes / 1024 / 1024,
    price: priceInput(content.currency),
    latestVersion: await items.latestVersion(content.id)
  })

  app.get<{ Params: SlugParams }>('/content/:slug/edit', { schema: { params: slugParams } }, async (request, reply) => {
    const content = await itemOr404(app, request.params.slug)
    if (content.kind === 'bundle') return await bundleEditPage(app, reply, content)
    return await reply.page('pages/admin-edit.eta', await editForm(content))
  })

  app.post<{ Params: SlugParams }>('/content/:slug', {
    schema: { params: slugParams },
    bodyLimit: uploadLimit,
    config: { bodyDeadlineMs: uploadAllowanceMs(config) },
    // As the upload: a form that says up front it is too large is refused before a byte is read.
    onRequest: async (request, reply) => {
      if (Number(request.headers['content-length'] ?? 0) <= uploadLimit) return
      const content = await itemOr404(app, (request.params as SlugParams).slug)
      request.log.info({ contentLength: request.headers['content-length'] }, 'edit refused: declared larger than the limit')
      reply.header('connection', 'close')
      const problem = `The upload is larger than ${config.maxUploadBytes / 1024 / 1024} MB, so nothing was changed. Choose a smaller PDF.`
      return await reply.page('pages/admin-edit.eta', await editForm(content, undefined, { file: problem }), { status: 400 })
    },
    preValidation: readLeadingFields
  }, async (request, reply) => {
    const content = await itemOr404(app, request.params.slug)
    if (content.kind === 'bundle') throw new HttpError(409, `"${content.title}" is a bundle: edit it from its own form (its Edit button).`)
    const upload = request.upload!
    const result = await items.receiveEdit(content, formEntries(upload), upload.fields, paymentLink)
    if (!result.ok) {
      return await reply.page('pages/admin-edit.eta', await editForm(content, result.values, result.problems), { status: statusOfKind(result.kind) })
    }
    const { content: updated, version, leftover, notice } = result
    if (leftover.length > 0) request.log.warn({ files: leftover }, 'the replaced cover could not be removed; the store sweep (at start and hourly) will quarantine it')
    request.log.info({ slug: updated.slug, version, paymentLink: updated.payment_link_id }, 'content edited')
    if (notice !== null) request.flash('error', notice)
    const warning = version === undefined ? null : readingNotice(await items.version(updated.id, version))
    if (warning !== null) request.flash('error', warning)
    // notify_buyers: the new version is mailed to every buyer (changelog and a download link).
    if (version !== undefined && upload.fields.notify_buyers === '1' && app.outbox.enabled) {
      const { recipients } = await app.outbox.broadcast({ contentId: updated.id, kind: 'update', subject: `New version of ${updated.title}`, body: (upload.fields.changelog ?? '').trim(), version })
      request.flash('info', `${recipients} buyer${recipients === 1 ? ' is' : 's are'} being told about version ${version}.`)
    }
    request.flash('info', version === undefined
      ? `"${updated.title}" was saved.`
      : `"${updated.title}" was saved, and its new PDF is version ${version}. Buyers get it from now on.`)
    return await reply.redirect(itemPath(updated.slug), 303)
  })
}

/** Where a publish or unpublish form sends the admin back: the list or the item, nowhere else. */
function back (next: unknown, slug: string): string {
  const path = localPath(next)
  if (path === itemPath(slug) || path === '/admin/content' || (path !== undefined && /^\/admin\/content\?page=\d{1,7}$/.test(path))) return path
  return '/admin/content'
}

/** The list with sales, publishing and unpublishing, deleting (and, in development, flushing everything). */
async function listRoutes (app: FastifyInstance): Promise<void> {
  const { config, items } = app

  app.get<{ Querystring: { page: number } }>('/content', {
    schema: { querystring: { type: 'object', properties: { page: { type: 'integer', minimum: 1, maximum: 1_000_000, default: 1 } } } }
  }, async (request, reply) => {
    return await reply.page('pages/admin-items.eta', { title: 'Your items', items: await items.list(request.query.page), refused: null })
  })

  type PublishRequest = FastifyRequest<{ Params: SlugParams, Body: { next?: string } | undefined }>
  const publishing = (published: boolean) => async (request: PublishRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const content = await itemOr404(app, request.params.slug)
    await items.setPublished(content.id, published)
    request.log.info({ slug: content.slug, published }, published ? 'content published' : 'content unpublished')
    request.flash('info', published
      ? `"${content.title}" is published: it is in the catalogue and for sale.`
      : `"${content.title}" is unpublished: it left the catalogue and cannot be bought. Its buyers keep it.`)
    return await reply.redirect(back(request.body?.next, content.slug), 303)
  }
  app.post('/content/:slug/publish', { schema: { params: slugParams } }, publishing(true))
  app.post('/content/:slug/unpublish', { schema: { params: slugParams } }, publishing(false))

  app.post<{ Params: SlugParams }>('/content/:slug/delete', { schema: { params: slugParams } }, async (request, reply) => {
    const content = await itemOr404(app, request.params.slug)
    try {
      const removed = await items.remove(content)
      if (removed.leftover.length > 0) request.log.warn({ files: removed.leftover }, 'files of a deleted item could not be removed; the store sweep (at start and hourly) will quarantine them')
      request.log.info({ slug: content.slug, files: removed.files }, 'content deleted')
    } catch (error) {
      if (!(error instanceof DomainError) || error.kind !== 'conflict') throw error
      // Ordered: the list, with the reason and the unpublish button at hand.
      return await reply.page('pages/admin-items.eta', {
        title: 'Cannot delete',
        items: await items.list(1),
        refused: { message: error.message, slug: content.slug, published: content.published === 1 }
      }, { status: 409 })
    }
    request.flash('info', `"${content.title}" was deleted, with its files.`)
    return await reply.redirect('/admin', 303)
  })

  if (!config.production) {
    app.post('/flush', async (request, reply) => {
      const removed = await items.flush()
      request.log.warn(removed, 'development data flushed')
      request.flash('info', `Flushed ${removed.content} items and ${removed.files} files. Users were kept.`)
      return await reply.redirect('/', 303)
    })
  }
}

/**
 * The creator's items (under /admin, inside the admin routes: their guard and multipart apply):
 * upload, the list with sales, edit, publish and unpublish, delete.
 */
const adminItemRoutes: FastifyPluginAsync = async (app) => {
  await listRoutes(app)
  await uploadRoutes(app)
  await editRoutes(app)
  await bundleRoutes(app)
}
export default adminItemRoutes
