import type { Kysely } from 'kysely'
import type { SyncRunner } from '../db/database.js'
import type { Content, ContentVersion, Database } from '../db/types.js'
import { DomainError } from './errors.js'
import type { FileStore, PendingFile } from './file-store.js'
import { parsePrice, toDecimal } from './money.js'
import { checkFields, type ContentFields, type ContentProblems, createFormReceiver, type UploadPart } from './uploads.js'

export const ITEMS_PAGE_SIZE = 50
export const MAX_CHANGELOG = 300

/** One line of the admin's list of items: the item, its sales and whether anyone ever ordered it. */
export interface ItemSummary {
  id: number
  slug: string
  title: string
  price_cents: number
  currency: string
  published: number
  created_at: string
  /** Paid orders. */
  sales: number
  /** What the paid orders brought, in the item's currency (refunded ones are not counted). */
  revenue_cents: number
  /** Orders in any state: an item with any cannot be deleted. */
  orders: number
}

export interface ItemsPage {
  items: ItemSummary[]
  page: number
  pages: number
  total: number
}

export type VersionSummary = Pick<ContentVersion, 'version' | 'file_name' | 'file_size' | 'changelog' | 'created_at'>

export interface EditFields extends ContentFields {
  changelog: string
}

export interface EditProblems extends ContentProblems {
  changelog?: string
}

export type EditResult =
  | { content: Content, version: number | undefined, leftover: string[] }
  | { content?: undefined, status: 400, values: EditFields, problems: EditProblems }

const NO_LONGER_THERE = 'This item was deleted meanwhile, so nothing was changed.'

/** Checks a changelog line; it is required only with a new PDF. */
function checkChangelog (changelog: string, withFile: boolean): string | undefined {
  if (changelog.length > MAX_CHANGELOG) return `The changelog must be at most ${MAX_CHANGELOG} characters long.`
  if (withFile && changelog === '') return 'Say in a line what changed in the new PDF (at most 300 characters): buyers see it beside the version.'
  return undefined
}

/**
 * The creator's items after upload: the list with sales, edits (a new cover, a new PDF as a new
 * version), publishing and deleting. Files go through the store as uploads do: received under a
 * temporary name, renamed into place, then the row committed; a file a row no longer points at
 * is removed only after that commit, so a crash leaves at worst an orphan the start-up sweep
 * quarantines, never a row pointing at nothing.
 */
export function createItems (deps: { db: Kysely<Database>, sync: SyncRunner, files: FileStore, maxUploadBytes: number }) {
  const { db, sync, files, maxUploadBytes } = deps
  const receiveForm = createFormReceiver(files, maxUploadBytes)
  const byId = (id: number) => db.selectFrom('content').selectAll().where('id', '=', id)
  const latest = (contentId: number) => db.selectFrom('content_versions')
    .select((eb) => eb.fn.max<number | null>('version').as('version')).where('content_id', '=', contentId)

  function latestVersion (contentId: number): number {
    // An item put in by hand (a seed, an old backup) without version rows has its one file.
    return sync.first(latest(contentId))?.version ?? 1
  }

  return {
    latestVersion,

    /** The item's versions, newest first. */
    versions (contentId: number): VersionSummary[] {
      return sync.all(db.selectFrom('content_versions')
        .select(['version', 'file_name', 'file_size', 'changelog', 'created_at'])
        .where('content_id', '=', contentId).orderBy('version', 'desc'))
    },

    version (contentId: number, version: number): ContentVersion | undefined {
      return sync.first(db.selectFrom('content_versions').selectAll()
        .where('content_id', '=', contentId).where('version', '=', version))
    },

    /** Every item, published or not, newest first, with its sales. */
    items (page: number): ItemsPage {
      const total = sync.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total')))!.total
      const pages = Math.max(1, Math.ceil(total / ITEMS_PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const rows = sync.all(db.selectFrom('content')
        .select(['id', 'slug', 'title', 'price_cents', 'currency', 'published', 'created_at'])
        .orderBy('created_at', 'desc').orderBy('id', 'desc')
        .limit(ITEMS_PAGE_SIZE).offset((current - 1) * ITEMS_PAGE_SIZE))
      const sales = new Map(rows.length === 0
        ? []
        : sync.all(db.selectFrom('orders')
          .select((eb) => [
            'content_id',
            eb.fn.countAll<number>().as('orders'),
            eb.fn.sum<number>(eb.case().when('status', '=', 'paid').then(1).else(0).end()).as('sales'),
            eb.fn.sum<number>(eb.case().when('status', '=', 'paid').then(eb.ref('amount_cents')).else(0).end()).as('revenue_cents')
          ])
          .where('content_id', 'in', rows.map((row) => row.id))
          .groupBy('content_id')).map((row) => [row.content_id, row]))
      const items = rows.map((row) => {
        const sold = sales.get(row.id)
        return { ...row, sales: sold?.sales ?? 0, revenue_cents: sold?.revenue_cents ?? 0, orders: sold?.orders ?? 0 }
      })
      return { items, page: current, pages, total }
    },

    /**
     * An edit, from the form's parts to the updated row: the title is required, the other fields
     * keep their value when left out; a new cover replaces the old (whose file is removed after
     * the commit); a new PDF becomes the next version, with its changelog line. The slug never
     * changes. Whatever fails, nothing received is left behind.
     */
    async receiveEdit (content: Content, parts: AsyncIterable<UploadPart>, fields: Record<string, string>): Promise<EditResult> {
      const problems: EditProblems = {}
      const received: PendingFile[] = []
      let stored = false
      try {
        const chosen = await receiveForm(parts, fields, received, problems)
        const values: EditFields = {
          title: fields.title ?? '',
          description: fields.description ?? content.description,
          price: fields.price ?? toDecimal(content.price_cents, content.currency),
          changelog: (fields.changelog ?? '').trim()
        }
        Object.assign(problems, checkFields(values, content.currency))
        const changelogProblem = checkChangelog(values.changelog, chosen.file !== undefined || problems.file !== undefined)
        if (changelogProblem !== undefined) problems.changelog = changelogProblem
        if (Object.keys(problems).length > 0) return { status: 400, values, problems }

        if (chosen.file !== undefined) await files.commit(chosen.file)
        if (chosen.preview !== undefined) await files.commit(chosen.preview)
        const { updated, version, replacedPreview } = sync.transaction(() => {
          const current = sync.first(byId(content.id))
          if (current === undefined) throw new DomainError('not_found', NO_LONGER_THERE)
          const file = chosen.file === undefined
            ? {}
            : { file_key: chosen.file.key, file_name: chosen.file.originalName.slice(0, 255), file_size: chosen.file.size, sha256: chosen.file.sha256 }
          const updated = sync.first(db.updateTable('content').set({
            title: values.title.trim(),
            description: values.description.trim(),
            price_cents: parsePrice(values.price, current.currency)!,
            ...file,
            ...(chosen.preview === undefined ? {} : { preview_key: chosen.preview.key })
          }).where('id', '=', current.id).returningAll())!
          let version: number | undefined
          if (chosen.file !== undefined) {
            version = latestVersion(current.id) + 1
            sync.run(db.insertInto('content_versions').values({ content_id: current.id, version, ...file as Required<typeof file>, changelog: values.changelog }))
          }
          return { updated, version, replacedPreview: chosen.preview === undefined ? undefined : current.preview_key }
        })
        stored = true
        // The row points at the new cover now: the old one's file can go. Should that fail, the
        // edit stands and the caller hears which file was left.
        const leftover: string[] = []
        if (replacedPreview !== undefined && replacedPreview !== updated.preview_key) {
          await files.remove(replacedPreview).catch(() => { leftover.push(replacedPreview) })
        }
        return { content: updated, version, leftover }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    },

    /** Lists the item in the catalogue again, or takes it off sale; owners keep it either way. */
    setPublished (contentId: number, published: boolean): boolean {
      return sync.run(db.updateTable('content').set({ published: published ? 1 : 0 }).where('id', '=', contentId)).changes > 0
    },

    /**
     * Deletes an item nobody ever ordered: its row and its versions in one transaction, then
     * every file it had. A crash in between leaves only files no row refers to, which the
     * start-up sweep quarantines. An item with orders (any state) is refused: buyers keep what
     * they paid for, so it can only be unpublished.
     */
    async remove (content: Content): Promise<{ files: number, leftover: string[] }> {
      const keys = sync.transaction(() => {
        const ordered = sync.first(db.selectFrom('orders').select('id').where('content_id', '=', content.id).limit(1))
        if (ordered !== undefined) {
          throw new DomainError('conflict', `"${content.title}" has orders, so it cannot be deleted: its buyers keep what they paid for. Unpublish it instead: it leaves the catalogue and nobody new can buy it.`)
        }
        const current = sync.first(byId(content.id))
        if (current === undefined) throw new DomainError('not_found', 'This item was already deleted.')
        const versions = sync.all(db.selectFrom('content_versions').select('file_key').where('content_id', '=', content.id))
        sync.run(db.deleteFrom('content_versions').where('content_id', '=', content.id))
        sync.run(db.deleteFrom('downloads').where('content_id', '=', content.id))
        sync.run(db.deleteFrom('free_library').where('content_id', '=', content.id))
        sync.run(db.deleteFrom('content').where('id', '=', content.id))
        return [...new Set([current.file_key, current.preview_key, ...versions.map((row) => row.file_key)])]
      })
      const leftover: string[] = []
      for (const key of keys) await files.remove(key).catch(() => { leftover.push(key) })
      return { files: keys.length - leftover.length, leftover }
    },

    /** Every stored file a row refers to, with its item's slug: latest files, covers and every version. */
    referencedKeys (): Map<string, string> {
      const referenced = new Map<string, string>()
      for (const row of sync.all(db.selectFrom('content').select(['slug', 'file_key', 'preview_key']))) {
        referenced.set(row.file_key, row.slug)
        referenced.set(row.preview_key, row.slug)
      }
      const versions = sync.all(db.selectFrom('content_versions').innerJoin('content', 'content.id', 'content_versions.content_id')
        .select(['content.slug', 'content_versions.file_key']))
      for (const row of versions) referenced.set(row.file_key, row.slug)
      return referenced
    }
  }
}

export type Items = ReturnType<typeof createItems>
