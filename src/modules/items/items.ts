import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, ContentKind, Database } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import type { FileStore } from '../../storage/store.js'
import { createEdits } from './edit.js'
import { saleFigures } from '../desk/plugin.js'
import { createBundles } from './bundles.js'
import { createUploads, type PdfHooks } from './uploads.js'
import { createVersions } from './versions.js'

export const ITEMS_PAGE_SIZE = 50

/** One line of the admin's list of items: the item, its sales and whether anyone ever ordered it. */
export interface ItemSummary {
  id: number
  slug: string
  title: string
  /** 'bundle': several items sold as one (the list shows a pill). */
  kind: ContentKind
  price_cents: number
  currency: string
  published: number
  created_at: string
  pay_what_you_want: number
  min_price_cents: number
  /** Sold through this Stripe Payment Link too. */
  payment_link_id: string | null
  /** Sales as the dashboard counts them (see saleFigures): paid orders, refunded or not. */
  sales: number
  /** Sales that had money go back (all or part of it). */
  refunds: number
  /** What the sales kept (less promotion discounts and refunds), in the item's currency. */
  net_cents: number
  /** Orders in any state: an item with any cannot be deleted. */
  orders: number
}

export interface ItemsPage {
  items: ItemSummary[]
  page: number
  pages: number
  total: number
}

export interface Reconciliation {
  temporary: number
  missing: Array<{ slug: string, key: string }>
}

interface Deps { db: Kysely<Database>, runner: Runner, files: FileStore }

/** Every item, published or not, newest first, with its sales. */
async function listItems ({ db, runner }: Deps, page: number): Promise<ItemsPage> {
  const total = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total'))))!.total
  const pages = Math.max(1, Math.ceil(total / ITEMS_PAGE_SIZE))
  const current = Math.min(Math.max(1, page), pages)
  const rows = await runner.all(db.selectFrom('content')
    .select(['id', 'slug', 'title', 'kind', 'price_cents', 'currency', 'published', 'created_at', 'pay_what_you_want', 'min_price_cents', 'payment_link_id'])
    .orderBy('created_at', 'desc').orderBy('id', 'desc')
    .limit(ITEMS_PAGE_SIZE).offset((current - 1) * ITEMS_PAGE_SIZE))
  const sales = new Map(rows.length === 0
    ? []
    : (await runner.all(db.selectFrom('orders')
        .select((eb) => ['content_id', eb.fn.countAll<number>().as('orders'), saleFigures.sales(), saleFigures.refunds(), saleFigures.net()])
        .where('content_id', 'in', rows.map((row) => row.id))
        .groupBy('content_id'))).map((row) => [row.content_id, row]))
  const items = rows.map((row) => {
    const sold = sales.get(row.id)
    return { ...row, sales: sold?.sales ?? 0, refunds: sold?.refunds ?? 0, net_cents: sold?.net ?? 0, orders: sold?.orders ?? 0 }
  })
  return { items, page: current, pages, total }
}

/**
 * Deletes an item nobody ever ordered: its row and its versions in one transaction, then
 * every file it had. A crash in between leaves only files no row refers to, which the
 * store sweep quarantines. An item with orders (any state) is refused: buyers keep what
 * they paid for, so it can only be unpublished.
 */
async function removeItem ({ db, runner, files }: Deps, content: Content): Promise<{ files: number, leftover: string[] }> {
  const keys = await runner.transaction(async () => {
    const ordered = await runner.first(db.selectFrom('orders').select('id').where('content_id', '=', content.id).limit(1))
    if (ordered !== undefined) {
      throw new DomainError('conflict', `"${content.title}" has orders, so it cannot be deleted: its buyers keep what they paid for. Unpublish it instead: it leaves the catalogue and nobody new can buy it.`)
    }
    const holder = await runner.first(db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.bundle_id')
      .select('content.title').where('bundle_items.item_id', '=', content.id).orderBy('content.title').limit(1))
    if (holder !== undefined) {
      throw new DomainError('conflict', `"${content.title}" is in the bundle "${holder.title}", so it cannot be deleted: take it out of the bundle first (edit the bundle), or unpublish it.`)
    }
    const current = await runner.first(db.selectFrom('content').selectAll().where('id', '=', content.id))
    if (current === undefined) throw new DomainError('not_found', 'This item was already deleted.')
    const versions = await runner.all(db.selectFrom('content_versions').select('file_key').where('content_id', '=', content.id))
    // What the PDF module made from it: page images and samples (an item never ordered has no stamped copy).
    const made = await runner.all(db.selectFrom('pdf_assets').select('key').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('pdf_assets').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('pdf_jobs').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('content_versions').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('downloads').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('free_library').where('content_id', '=', content.id))
    await runner.run(db.deleteFrom('bundle_items').where('bundle_id', '=', content.id))
    await runner.run(db.deleteFrom('content').where('id', '=', content.id))
    // A bundle's empty file_key is no file.
    return [...new Set([current.file_key, current.preview_key, ...versions.map((row) => row.file_key), ...made.map((row) => row.key)])].filter((key) => key !== '')
  })
  const leftover: string[] = []
  for (const key of keys) await files.remove(key).catch(() => { leftover.push(key) })
  return { files: keys.length - leftover.length, leftover }
}

/** Every stored file a row refers to, with its item's slug: latest files, covers and every version. */
async function referencedKeys ({ db, runner }: Deps): Promise<Map<string, string>> {
  const referenced = new Map<string, string>()
  for (const row of await runner.all(db.selectFrom('content').select(['slug', 'file_key', 'preview_key']))) {
    // A bundle has a cover but no file (its file_key is empty).
    if (row.file_key !== '') referenced.set(row.file_key, row.slug)
    referenced.set(row.preview_key, row.slug)
  }
  const versions = await runner.all(db.selectFrom('content_versions').innerJoin('content', 'content.id', 'content_versions.content_id')
    .select(['content.slug', 'content_versions.file_key']))
  for (const row of versions) referenced.set(row.file_key, row.slug)
  return referenced
}

/**
 * Development only: deletes content, orders, library entries, webhook records and stored
 * files; users stay. Rows go first, in one transaction, so no row ever points at a missing file.
 */
async function flush ({ db, runner, files }: Deps): Promise<{ content: number, files: number }> {
  const removed = await runner.transaction(async () => {
    await runner.run(db.deleteFrom('library'))
    await runner.run(db.deleteFrom('bundle_items'))
    await runner.run(db.deleteFrom('stamped_copies'))
    await runner.run(db.deleteFrom('pdf_assets'))
    await runner.run(db.deleteFrom('pdf_jobs'))
    await runner.run(db.deleteFrom('orders'))
    await runner.run(db.deleteFrom('payment_events'))
    await runner.run(db.deleteFrom('refunds'))
    await runner.run(db.deleteFrom('content_versions'))
    return (await runner.run(db.deleteFrom('content'))).changes
  })
  const keys = await files.keys()
  await Promise.all(keys.map(async (key) => { await files.remove(key) }))
  await files.removeTemporary()
  return { content: removed, files: keys.length }
}

/**
 * At start, while no upload runs: the store's leftovers and gaps. Temporary files of cut-off
 * uploads are removed; items whose files are gone are reported (and the store remembers them
 * for /healthz). Complete files no row refers to are the sweep's (src/storage/sweep-plugin.ts).
 */
async function reconcile (deps: Deps): Promise<Reconciliation> {
  const temporary = await deps.files.removeTemporary()
  // Every version's file counts, not only the latest: earlier ones are still downloaded.
  const referenced = await referencedKeys(deps)
  const missing: Reconciliation['missing'] = []
  for (const [key, slug] of referenced) {
    if (!await deps.files.exists(key)) missing.push({ slug, key })
  }
  return { temporary, missing }
}

/**
 * The creator's items: uploads, the list with sales, edits (a new cover, a new PDF as a new
 * version), publishing and deleting, and the stored files every row refers to.
 */
export function createItems (deps: Deps & { currency: string, maxUploadBytes: number, pdf?: PdfHooks }) {
  const { db, runner } = deps
  return {
    ...createUploads(deps),
    ...createEdits(deps),
    ...createVersions(deps),
    ...createBundles(deps),
    list: async (page: number) => await listItems(deps, page),
    remove: async (content: Content) => await removeItem(deps, content),
    referencedKeys: async () => await referencedKeys(deps),
    flush: async () => await flush(deps),
    reconcile: async () => await reconcile(deps),

    /** Lists the item in the catalogue again, or takes it off sale; owners keep it either way. */
    async setPublished (contentId: number, published: boolean): Promise<boolean> {
      return (await runner.run(db.updateTable('content').set({ published: published ? 1 : 0 }).where('id', '=', contentId))).changes > 0
    }
  }
}

export type Items = ReturnType<typeof createItems>
