import type { Readable } from 'node:stream'
import { type Compilable, type Kysely, sql } from 'kysely'
import type { SyncRunner } from '../db/database.js'
import type { Content, Database } from '../db/types.js'
import { DomainError } from './errors.js'
import { type FileStore, type PendingFile, sniffImage, sniffPdf } from './file-store.js'
import { formatAmount, minimumCharge, parsePrice, priceRule } from './money.js'

export const PAGE_SIZE = 24
export const MAX_PREVIEW_BYTES = 5 * 1024 * 1024

/** Lower case, runs of other characters become '-', trimmed of '-'. */
export function slugify (title: string): string {
  return title.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '')
}

export interface ContentFields {
  title: string
  description: string
  price: string
}

export interface ContentProblems {
  title?: string
  description?: string
  price?: string
  file?: string
  preview?: string
}

export type CatalogItem = Pick<Content, 'id' | 'slug' | 'title' | 'price_cents' | 'currency' | 'created_at'>

export interface CatalogPage {
  items: CatalogItem[]
  page: number
  pages: number
  total: number
}

/** One part of an upload form as the multipart parser hands it over. */
export type UploadPart =
  | { type: 'field', fieldname: string, value: unknown }
  | { type: 'file', fieldname: string, filename: string, file: Readable }

export type UploadResult =
  | { content: Content }
  | { content?: undefined, status: 400 | 409, values: ContentFields, problems: ContentProblems }

export interface Reconciliation {
  temporary: number
  quarantined: string[]
  left: string[]
  missing: Array<{ slug: string, key: string }>
}

export interface LibraryEntry {
  slug: string
  title: string
  /** When it was bought, refunded or first downloaded (free). */
  granted_at: string
  amount_cents: number
  currency: string
  /** paid and free entries download; a refunded one is listed so the reader knows what happened. */
  state: 'paid' | 'free' | 'refunded'
}

/** Checks the text fields of an upload, the price in the store's currency; an empty object means they are fine. */
export function checkFields (fields: ContentFields, currency: string): ContentProblems {
  const problems: ContentProblems = {}
  const title = fields.title.trim()
  if (title.length < 3 || title.length > 120) problems.title = 'The title must be 3 to 120 characters long.'
  else if (slugify(title) === '') problems.title = 'The title must contain at least one letter or digit.'
  if (fields.description.length > 5000) problems.description = 'The description must be at most 5,000 characters long.'
  const price = parsePrice(fields.price, currency)
  if (price === undefined) {
    problems.price = priceRule(currency)
  } else if (price > 0 && price < minimumCharge(currency)) {
    // Stripe would refuse the checkout: better to say so now than to a buyer later.
    problems.price = `The lowest price Stripe accepts in ${currency.toUpperCase()} is ${formatAmount(minimumCharge(currency), currency)}. Use 0 for a free item.`
  }
  return problems
}

export function createCatalog (deps: { db: Kysely<Database>, sync: SyncRunner, files: FileStore, currency: string, maxUploadBytes: number }) {
  const { db, sync, files, currency, maxUploadBytes } = deps

  const bySlug = (slug: string) => db.selectFrom('content').selectAll().where('slug', '=', slug)
  const ownership = (userId: number, contentId: number) => db.selectFrom('library')
    .select('content_id').where('user_id', '=', userId).where('content_id', '=', contentId)

  // Catalogue pages are kept until the database changes. Any write on this connection moves
  // total_changes() (uploads, flush, and any other writer such as tests or a future admin
  // screen); a commit by another connection (`npm run flush`) moves data_version. Checking
  // both costs one prepared statement per request and can never serve a stale page.
  const stamp = sql<{ changes: number, version: number }>`SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS version`.compile(db)
  const stampQuery: Compilable<{ changes: number, version: number }> = { compile: () => stamp }
  let lastStamp = ''
  let total: number | undefined
  const pageCache = new Map<number, CatalogPage>()
  const MAX_CACHED_PAGES = 1000

  function freshCache (): void {
    const now = sync.first(stampQuery)!
    const current = `${now.changes}:${now.version}`
    if (current !== lastStamp) {
      lastStamp = current
      total = undefined
      pageCache.clear()
    }
  }

  const receivePdf = async (stream: Readable): Promise<PendingFile> =>
    await files.receive(stream, { label: 'PDF', maxBytes: maxUploadBytes, sniff: sniffPdf, wrongType: 'The file must be a PDF (it should start with %PDF-).' })

  const receivePreview = async (stream: Readable): Promise<PendingFile> =>
    await files.receive(stream, { label: 'preview image', maxBytes: MAX_PREVIEW_BYTES, sniff: sniffImage, wrongType: 'The preview must be a PNG, JPEG or WebP image.' })

  /** Renames the files into place, then commits the row; the caller discards the files on failure. */
  async function create (fields: ContentFields, pdf: PendingFile & { originalName: string }, preview: PendingFile): Promise<Content> {
    const title = fields.title.trim()
    const slug = slugify(title)
    const taken = new DomainError('conflict', `An item with the address /content/${slug} already exists. Choose another title.`)
    if (sync.first(bySlug(slug)) !== undefined) throw taken
    await files.commit(pdf)
    await files.commit(preview)
    try {
      return sync.first(db.insertInto('content').values({
        slug,
        title,
        description: fields.description.trim(),
        price_cents: parsePrice(fields.price, currency)!,
        currency,
        file_key: pdf.key,
        file_name: pdf.originalName.slice(0, 255),
        file_size: pdf.size,
        sha256: pdf.sha256,
        preview_key: preview.key
      }).returningAll())!
    } catch (error) {
      // Two uploads with the same title at the same moment: the unique index decides.
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw taken
      throw error
    }
  }

  return {
    /**
     * One page of the catalogue, newest first. The same object is returned until the catalogue
     * changes, so a caller may key its own derived data (rendered HTML) on it.
     */
    async page (page: number): Promise<CatalogPage> {
      freshCache()
      total ??= sync.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total')))!.total
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const cached = pageCache.get(current)
      if (cached !== undefined) return cached
      const items = sync.all(db.selectFrom('content')
        .select(['id', 'slug', 'title', 'price_cents', 'currency', 'created_at'])
        .orderBy('created_at', 'desc').orderBy('id', 'desc')
        .limit(PAGE_SIZE).offset((current - 1) * PAGE_SIZE))
      const result = { items, page: current, pages, total }
      if (pageCache.size >= MAX_CACHED_PAGES) pageCache.clear()
      pageCache.set(current, result)
      return result
    },

    find (slug: string): Content | undefined {
      return sync.first(bySlug(slug))
    },

    findById (id: number): Content | undefined {
      return sync.first(db.selectFrom('content').selectAll().where('id', '=', id))
    },

    owns (userId: number, contentId: number): boolean {
      return sync.first(ownership(userId, contentId)) !== undefined
    },

    /** Free items are for every signed-in user; paid ones for those whose library holds them. */
    canDownload (userId: number, content: Content): boolean {
      return content.price_cents === 0 || this.owns(userId, content.id)
    },

    /** What the user bought, what was refunded (and not bought again), and free items they took. */
    async library (userId: number): Promise<LibraryEntry[]> {
      const paid = await db.selectFrom('library')
        .innerJoin('content', 'content.id', 'library.content_id')
        .innerJoin('orders', 'orders.id', 'library.order_id')
        .select(['content.slug', 'content.title', 'library.granted_at', 'orders.amount_cents', 'orders.currency'])
        .where('library.user_id', '=', userId)
        .execute()
      const refunded = await db.selectFrom('orders')
        .innerJoin('content', 'content.id', 'orders.content_id')
        .select(['content.slug', 'content.title', 'orders.paid_at', 'orders.created_at', 'orders.amount_cents', 'orders.currency'])
        .where('orders.user_id', '=', userId).where('orders.status', '=', 'refunded')
        .where((eb) => eb.not(eb.exists(eb.selectFrom('library').select('library.content_id')
          .whereRef('library.content_id', '=', 'orders.content_id').where('library.user_id', '=', userId))))
        .execute()
      const free = await db.selectFrom('free_library')
        .innerJoin('content', 'content.id', 'free_library.content_id')
        .select(['content.slug', 'content.title', 'free_library.added_at', 'content.currency'])
        .where('free_library.user_id', '=', userId).where('content.price_cents', '=', 0)
        .execute()
      const seenRefunds = new Set<string>()
      const entries: LibraryEntry[] = [
        ...paid.map((row) => ({ ...row, state: 'paid' as const })),
        // One line per refunded item, however many refunded orders it had.
        ...refunded.filter((row) => !seenRefunds.has(row.slug) && seenRefunds.add(row.slug) !== undefined)
          .map((row) => ({ slug: row.slug, title: row.title, granted_at: row.paid_at ?? row.created_at, amount_cents: row.amount_cents, currency: row.currency, state: 'refunded' as const })),
        ...free.map((row) => ({ slug: row.slug, title: row.title, granted_at: row.added_at, amount_cents: 0, currency: row.currency, state: 'free' as const }))
      ]
      return entries.sort((a, b) => b.granted_at.localeCompare(a.granted_at))
    },

    /** A free item downloaded by a signed-in reader joins their library (once). */
    rememberFreeDownload (userId: number, contentId: number): void {
      sync.run(db.insertInto('free_library').values({ user_id: userId, content_id: contentId })
        .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
    },

    /**
     * An upload, from the form's parts to a stored item: the files are streamed to the store and
     * checked as they pass, the fields validated, then the files are renamed into place and the
     * row committed. Whatever fails, nothing received is left behind (this is the only cleanup).
     */
    async receiveUpload (parts: AsyncIterable<UploadPart>, fields: Record<string, string>): Promise<UploadResult> {
      const problems: ContentProblems = {}
      const chosen: { file?: PendingFile & { originalName: string }, preview?: PendingFile } = {}
      const received: PendingFile[] = []
      let stored = false
      try {
        for await (const part of parts) {
          if (part.type === 'field') { fields[part.fieldname] = String(part.value); continue }
          const slot = part.fieldname === 'file' || part.fieldname === 'preview' ? part.fieldname : undefined
          // A file input left empty is sent as a part with no file name and no bytes: nothing chosen.
          if (slot === undefined || part.filename === '' || chosen[slot] !== undefined || problems[slot] !== undefined) {
            part.file.resume() // not ours, none chosen, or a second one: read past it
            continue
          }
          try {
            const pending = await (slot === 'file' ? receivePdf(part.file) : receivePreview(part.file))
            received.push(pending)
            if (slot === 'file') chosen.file = { ...pending, originalName: part.filename }
            else chosen.preview = pending
          } catch (error) {
            if (!(error instanceof DomainError)) throw error
            problems[slot] = error.message
          }
        }
        const values: ContentFields = { title: fields.title ?? '', description: fields.description ?? '', price: fields.price ?? '' }
        Object.assign(problems, checkFields(values, currency))
        if (chosen.file === undefined) problems.file ??= 'Choose a PDF to sell.'
        if (chosen.preview === undefined) problems.preview ??= 'Choose a cover image (PNG, JPEG or WebP).'
        if (Object.keys(problems).length > 0 || chosen.file === undefined || chosen.preview === undefined) {
          return { status: 400, values, problems }
        }
        try {
          const content = await create(values, chosen.file, chosen.preview)
          stored = true
          return { content }
        } catch (error) {
          if (!(error instanceof DomainError) || error.kind !== 'conflict') throw error
          return { status: 409, values, problems: { title: error.message } }
        }
      } finally {
        if (!stored) await Promise.all(received.map(async (file) => { await files.discard(file) }))
      }
    },

    /**
     * Development only: deletes content, orders, library entries, webhook records and stored
     * files; users stay. Rows go first, in one transaction, so no row ever points at a missing file.
     */
    async flush (): Promise<{ content: number, files: number }> {
      const removed = sync.transaction(() => {
        sync.run(db.deleteFrom('library'))
        sync.run(db.deleteFrom('orders'))
        sync.run(db.deleteFrom('stripe_events'))
        sync.run(db.deleteFrom('refunds'))
        return sync.run(db.deleteFrom('content')).changes
      })
      const keys = await files.keys()
      await Promise.all(keys.map(async (key) => { await files.remove(key) }))
      await files.removeTemporary()
      return { content: removed, files: keys.length }
    },

    /**
     * At start, while no upload runs: the store's leftovers and gaps. Temporary files of cut-off
     * uploads are removed; complete files no row refers to (a crash between the rename and the
     * commit) are moved aside, never deleted; items whose files are gone are reported (and the
     * store remembers them for /healthz).
     */
    async reconcile (): Promise<Reconciliation> {
      const temporary = await files.removeTemporary()
      const rows = sync.all(db.selectFrom('content').select(['slug', 'file_key', 'preview_key']))
      const swept = await files.sweep(new Set(rows.flatMap((row) => [row.file_key, row.preview_key])))
      const missing: Reconciliation['missing'] = []
      for (const row of rows) {
        for (const key of [row.file_key, row.preview_key]) {
          if (!await files.exists(key)) missing.push({ slug: row.slug, key })
        }
      }
      return { temporary, ...swept, missing }
    }
  }
}

export type Catalog = ReturnType<typeof createCatalog>
