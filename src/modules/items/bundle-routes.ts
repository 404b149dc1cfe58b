import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Content } from '../../db/types.js'
import { HttpError, statusOfKind } from '../../http/errors.js'
import { type SlugParams, slugParams } from '../../http/schemas.js'
import { allParts, readLeadingFieldsUpTo, type UploadStream } from '../../http/multipart-form.js'
import { formatAmount, maxPrice, minimumCharge, priceInput, toDecimal } from '../../lib/money.js'
import { itemPath } from '../../lib/slugs.js'
import { type BundleFields, type BundleProblems, type BundleResult, MAX_BUNDLE_ITEMS } from './bundles.js'
import type { BundleForm } from './pages.js'
import { type FormEntry, MAX_PREVIEW_BYTES } from './uploads.js'

/** The bundle form's fields: title, description, price, _csrf and up to a page of check boxes beyond the most a bundle holds. */
const MAX_FIELDS = MAX_BUNDLE_ITEMS * 4
const bodyLimit = MAX_PREVIEW_BYTES + 1024 * 1024

async function * formEntries (upload: UploadStream): AsyncGenerator<FormEntry> {
  for await (const part of allParts(upload)) {
    if (part.type === 'field') yield { name: part.fieldname, value: String(part.value) }
    else yield { name: part.fieldname, fileName: part.filename, stream: part.file }
  }
}

const leadingItems = (upload: UploadStream): string[] => upload.fieldList.filter((field) => field.name === 'items').map((field) => field.value)

/** The price field as an item's, but a bundle is never free. */
function bundlePrice (currency: string): ReturnType<typeof priceInput> {
  return { ...priceInput(currency), hint: `The price of the whole bundle, from ${formatAmount(minimumCharge(currency), currency)} to ${formatAmount(maxPrice(currency), currency)}.` }
}

/** The bundle form, new (bundle null) or an edit, with the values and problems to show. */
async function bundleForm (app: FastifyInstance, bundle: Content | null, values?: BundleFields, problems: BundleProblems = {}): Promise<BundleForm & { title: string }> {
  const { items, config } = app
  return {
    title: bundle === null ? 'New bundle' : `Edit ${bundle.title}`,
    bundle,
    values: values ?? (bundle === null
      ? { title: '', description: '', price: '', items: [] }
      : { title: bundle.title, description: bundle.description, price: toDecimal(bundle.price_cents, bundle.currency), items: await items.bundleSlugs(bundle.id) }),
    problems,
    choices: await items.bundleChoices(),
    price: bundlePrice(bundle?.currency ?? config.currency),
    maxItems: MAX_BUNDLE_ITEMS
  }
}

/** A saved bundle's answer: back to its page; a refusal: the form again, with each problem. */
async function answer (app: FastifyInstance, request: FastifyRequest, reply: FastifyReply, bundle: Content | null, result: BundleResult): Promise<FastifyReply> {
  if (!result.ok) {
    return await reply.page('pages/admin-bundle.eta', await bundleForm(app, bundle, result.values, result.problems), { status: statusOfKind(result.kind) })
  }
  if (result.leftover.length > 0) request.log.warn({ files: result.leftover }, 'the replaced cover could not be removed; the store sweep (at start and hourly) will quarantine it')
  request.log.info({ slug: result.content.slug, items: result.content.id }, bundle === null ? 'bundle created' : 'bundle edited')
  request.flash('info', bundle === null ? `"${result.content.title}" is now in the catalogue.` : `"${result.content.title}" was saved.`)
  return await reply.redirect(itemPath(result.content.slug), 303)
}

/** GET /admin/bundles/new and POST /admin/bundles (under /admin: its guard and CSRF apply). */
export async function bundleRoutes (app: FastifyInstance): Promise<void> {
  app.get('/bundles/new', async (_request, reply) => await reply.page('pages/admin-bundle.eta', await bundleForm(app, null)))

  app.post('/bundles', { bodyLimit, preValidation: readLeadingFieldsUpTo(MAX_FIELDS) }, async (request, reply) => {
    const upload = request.upload!
    return await answer(app, request, reply, null, await app.items.receiveBundle(formEntries(upload), upload.fields, leadingItems(upload)))
  })

  // A bundle's edit form posts here (not to /admin/content/<slug>: its check boxes need the higher field limit).
  app.post<{ Params: SlugParams }>('/bundles/:slug', { schema: { params: slugParams }, bodyLimit, preValidation: readLeadingFieldsUpTo(MAX_FIELDS) }, async (request, reply) => {
    const bundle = await app.catalog.find(request.params.slug)
    if (bundle === undefined || bundle.kind !== 'bundle') throw new HttpError(404, 'There is no bundle at this address. It may have been deleted.')
    const upload = request.upload!
    return await answer(app, request, reply, bundle, await app.items.receiveBundleEdit(bundle, formEntries(upload), upload.fields, leadingItems(upload)))
  })
}

/** A bundle's edit page (GET /admin/content/<slug>/edit of a bundle). */
export async function bundleEditPage (app: FastifyInstance, reply: FastifyReply, bundle: Content): Promise<FastifyReply> {
  return await reply.page('pages/admin-bundle.eta', await bundleForm(app, bundle))
}
