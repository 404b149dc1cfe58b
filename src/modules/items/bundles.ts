import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { parsePrice } from '../../lib/money.js'
import { slugify } from '../../lib/slugs.js'
import type { FileStore, PendingFile } from '../../storage/store.js'
import { checkFields, createFormReceiver, DEFAULT_PREVIEW_FIELDS, type FormEntry } from './uploads.js'

/** How many items a bundle holds: two at least (one is the item itself), fifty at most. */
export const MIN_BUNDLE_ITEMS = 2
export const MAX_BUNDLE_ITEMS = 50

export interface BundleFields {
  title: string
  description: string
  price: string
  /** The chosen items' slugs, in the order they were sent. */
  items: string[]
}

export interface BundleProblems {
  title?: string
  description?: string
  price?: string
  preview?: string
  /** One sentence per problem with the chosen items. */
  items?: string[]
}

export type BundleResult =
  | { ok: true, content: Content, leftover: string[] }
  | { ok: false, kind: 'invalid' | 'conflict', values: BundleFields, problems: BundleProblems }

/** An item a bundle may hold, as the form lists it. */
export interface BundleChoice {
  slug: string
  title: string
  published: number
  page_count: number | null
}

/** The form's text parts as fields, its `items` gathered; any file but the cover is read past. */
async function * coverOnly (entries: AsyncIterable<FormEntry>, items: string[]): AsyncGenerator<FormEntry> {
  for await (const entry of entries) {
    if ('value' in entry) {
      if (entry.name === 'items') items.push(entry.value)
      else yield entry
    } else if (entry.name === 'preview') {
      yield entry
    } else {
      entry.stream.resume()
    }
  }
}

interface Deps { db: Kysely<Database>, runner: Runner, files: FileStore, currency: string, maxUploadBytes: number }

/** The items named by slug, each once: the problems with the choice, or the ids in order. */
async function resolve ({ db, runner }: Deps, slugs: string[], self: number | null): Promise<{ ids: number[] } | { problems: string[] }> {
  const problems: string[] = []
  const wanted = slugs.map((slug) => slug.trim()).filter((slug) => slug !== '')
  const rows = wanted.length === 0
    ? []
    : await runner.all(db.selectFrom('content').select(['id', 'slug', 'title', 'kind']).where('slug', 'in', [...new Set(wanted)].slice(0, 500)))
  const bySlug = new Map(rows.map((row) => [row.slug, row]))
  const seen = new Set<string>()
  const ids: number[] = []
  for (const slug of wanted) {
    const row = bySlug.get(slug)
    if (seen.has(slug)) {
      problems.push(`"${row?.title ?? slug}" is chosen twice: a bundle holds each item once.`)
      continue
    }
    seen.add(slug)
    if (row === undefined) problems.push(`There is no item at /content/${slug.slice(0, 200)}: choose items of the catalogue.`)
    else if (row.id === self) problems.push('A bundle cannot hold itself.')
    else if (row.kind === 'bundle') problems.push(`"${row.title}" is a bundle: a bundle holds items, not other bundles.`)
    else ids.push(row.id)
  }
  if (problems.length === 0 && ids.length < MIN_BUNDLE_ITEMS) problems.push(`Choose at least ${MIN_BUNDLE_ITEMS} items for the bundle.`)
  if (seen.size > MAX_BUNDLE_ITEMS) problems.push(`A bundle holds at most ${MAX_BUNDLE_ITEMS} items; ${seen.size} were chosen.`)
  return problems.length > 0 ? { problems } : { ids }
}

/** Title, description and price as an item's, except that a bundle is never free. */
function checkText (values: BundleFields, currency: string): BundleProblems {
  const { title, description, price } = checkFields({ ...values, ...DEFAULT_PREVIEW_FIELDS }, currency)
  const problems: BundleProblems = {}
  if (title !== undefined) problems.title = title
  if (description !== undefined) problems.description = description
  if (price !== undefined) problems.price = price
  else if (parsePrice(values.price, currency) === 0) problems.price = 'A bundle is sold: give it a price above 0. (A free PDF is uploaded as an item of its own.)'
  return problems
}

/** Its items, in place of the ones it held (in one transaction with the row's change). */
async function setItems ({ db, runner }: Deps, bundleId: number, ids: number[]): Promise<void> {
  await runner.run(db.deleteFrom('bundle_items').where('bundle_id', '=', bundleId))
  await runner.run(db.insertInto('bundle_items').values(ids.map((itemId, position) => ({ bundle_id: bundleId, item_id: itemId, position }))))
}

/** A bundle's row: no file of its own (its items have theirs), a cover, no page images or sample. */
async function insertBundle ({ db, runner, currency }: Deps, values: BundleFields, slug: string, previewKey: string): Promise<Content> {
  return (await runner.first(db.insertInto('content').values({
    slug,
    title: values.title.trim(),
    kind: 'bundle',
    description: values.description.trim(),
    price_cents: parsePrice(values.price, currency)!,
    currency,
    file_key: '',
    file_name: '',
    file_size: 0,
    sha256: '',
    preview_key: previewKey,
    preview_pages: 0,
    sample_pages: 0
  }).returningAll()))!
}

/** The form read and checked: the values, the cover if one came, and every problem. */
async function readForm (deps: Deps, receiveForm: ReturnType<typeof createFormReceiver>, entries: AsyncIterable<FormEntry>, fields: Record<string, string>, leadingItems: string[], received: PendingFile[], self: Content | null) {
  const problems: BundleProblems = {}
  const items = [...leadingItems]
  const chosen = await receiveForm(coverOnly(entries, items), fields, received, problems)
  const values: BundleFields = {
    title: fields.title ?? '',
    description: fields.description ?? '',
    price: fields.price ?? '',
    items
  }
  Object.assign(problems, checkText(values, deps.currency))
  const resolved = await resolve(deps, items, self?.id ?? null)
  if ('problems' in resolved) problems.items = resolved.problems
  if (self === null && chosen.preview === undefined) problems.preview ??= 'Choose a cover image (PNG, JPEG or WebP).'
  return { values, problems, preview: chosen.preview, ids: 'ids' in resolved ? resolved.ids : [] }
}

/**
 * Bundles: several items sold as one item of the catalogue, with a cover and no file of its own
 * (content.kind 'bundle', see migrations/0020). Buying one grants each item it holds.
 */
export function createBundles (deps: Deps) {
  const { db, runner, files } = deps
  const receiveForm = createFormReceiver(files, deps.maxUploadBytes)

  const taken = (slug: string) => new DomainError('conflict', `An item with the address /content/${slug} already exists. Choose another title.`)
  const isUniqueViolation = (error: unknown) => ['SQLITE_CONSTRAINT_UNIQUE', '23505'].includes((error as { code?: string }).code ?? '')

  return {
    /** Every item (not bundle) a bundle may hold, by title, for the form's check boxes. */
    async bundleChoices (): Promise<BundleChoice[]> {
      return await runner.all(db.selectFrom('content').select(['slug', 'title', 'published', 'page_count'])
        .where('kind', '=', 'item').orderBy('title').orderBy('id'))
    },

    /** The slugs of what the bundle holds, in its order. */
    async bundleSlugs (bundleId: number): Promise<string[]> {
      return (await runner.all(db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.item_id')
        .select('content.slug').where('bundle_items.bundle_id', '=', bundleId).orderBy('bundle_items.position'))).map((row) => row.slug)
    },

    /**
     * A new bundle from the form (`title`, `description`, `price`, `preview`, `items` repeated):
     * checked whole, then the cover put in place and the row and its items committed in one
     * transaction. Whatever fails, nothing received is left behind.
     */
    async receiveBundle (entries: AsyncIterable<FormEntry>, fields: Record<string, string>, leadingItems: string[]): Promise<BundleResult> {
      const received: PendingFile[] = []
      let stored = false
      try {
        const { values, problems, preview, ids } = await readForm(deps, receiveForm, entries, fields, leadingItems, received, null)
        if (Object.keys(problems).length > 0 || preview === undefined) return { ok: false, kind: 'invalid', values, problems }
        const title = values.title.trim()
        const slug = slugify(title)
        if (await runner.first(db.selectFrom('content').select('id').where('slug', '=', slug)) !== undefined) {
          return { ok: false, kind: 'conflict', values, problems: { title: taken(slug).message } }
        }
        await files.commit(preview)
        try {
          const content = await runner.transaction(async () => {
            const row = await insertBundle(deps, values, slug, preview.key)
            await setItems(deps, row.id, ids)
            return row
          })
          stored = true
          return { ok: true, content, leftover: [] }
        } catch (error) {
          if (isUniqueViolation(error)) return { ok: false, kind: 'conflict', values, problems: { title: taken(slug).message } }
          throw error
        }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    },

    /**
     * A bundle's edit: title, description, price, a new cover (the old one's file removed after
     * the commit), which items it holds. The slug never changes.
     */
    async receiveBundleEdit (bundle: Content, entries: AsyncIterable<FormEntry>, fields: Record<string, string>, leadingItems: string[]): Promise<BundleResult> {
      const received: PendingFile[] = []
      let stored = false
      try {
        const { values, problems, preview, ids } = await readForm(deps, receiveForm, entries, fields, leadingItems, received, bundle)
        if (Object.keys(problems).length > 0) return { ok: false, kind: 'invalid', values, problems }
        if (preview !== undefined) await files.commit(preview)
        const updated = await runner.transaction(async () => {
          const row = await runner.first(db.updateTable('content').set({
            title: values.title.trim(),
            description: values.description.trim(),
            price_cents: parsePrice(values.price, bundle.currency)!,
            ...(preview === undefined ? {} : { preview_key: preview.key })
          }).where('id', '=', bundle.id).where('kind', '=', 'bundle').returningAll())
          if (row === undefined) throw new DomainError('not_found', 'This bundle was deleted meanwhile, so nothing was changed.')
          await setItems(deps, row.id, ids)
          return row
        })
        stored = true
        const leftover: string[] = []
        if (preview !== undefined && bundle.preview_key !== updated.preview_key) {
          await files.remove(bundle.preview_key).catch(() => { leftover.push(bundle.preview_key) })
        }
        return { ok: true, content: updated, leftover }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    }
  }
}

export type Bundles = ReturnType<typeof createBundles>
