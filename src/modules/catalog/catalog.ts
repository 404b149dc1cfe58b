import { isFree } from '../../lib/pricing.js'
import { postgresSearch } from './search-sql.js'
import { type ExpressionBuilder, type Kysely, sql } from 'kysely'
import { prepared } from '../../db/prepared.js'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, User } from '../../db/types.js'
import type { FileStore } from '../../storage/folder-store.js'
import { createItems } from '../items/items.js'
import { createUploads } from '../items/uploads.js'

export const PAGE_SIZE = 24

export type CatalogItem = Pick<Content, 'id' | 'slug' | 'title' | 'price_cents' | 'currency' | 'created_at' | 'pay_what_you_want' | 'min_price_cents'>

/** The orders a visitor can ask for (`?sort=`); without one, best match first for a search, else newest. */
export const SORTS = ['new', 'price', 'title'] as const
export type CatalogSort = typeof SORTS[number]

export interface CatalogPage {
  items: CatalogItem[]
  page: number
  pages: number
  total: number
  /** The search as typed ('' for the plain listing) and the order asked for: the pager keeps both. */
  query: string
  sort: CatalogSort | null
}

/** A search longer than this is cut: nobody types more, and each word costs the index a lookup. */
export const MAX_QUERY_WORDS = 16
const MAX_QUERY_CHARS = 1000

/**
 * A visitor's words as an FTS5 query that can only mean "all these words": each word becomes a
 * quoted phrase (a quote inside doubled), so FTS5 syntax typed in (`"`, `*`, `NEAR(`, `-`, `OR`,
 * `title:x`) is searched for as text, never run. Words with no letter or digit in them are
 * dropped, since the tokenizer would find nothing in them. Control characters separate words
 * like spaces: a NUL would end FTS5's string early, and PostgreSQL's text cannot hold one.
 * Undefined: nothing to search for.
 */
export function ftsQuery (input: string): string | undefined {
  const words = input.slice(0, MAX_QUERY_CHARS).split(/[\s\p{Cc}]+/u)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, MAX_QUERY_WORDS)
  if (words.length === 0) return undefined
  return words.map((word) => `"${word.replaceAll('"', '""')}"`).join(' ')
}

const ITEM_COLUMNS = ['content.id', 'content.slug', 'content.title', 'content.price_cents', 'content.currency', 'content.created_at', 'content.pay_what_you_want', 'content.min_price_cents'] as const

export interface Reconciliation {
  temporary: number
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
  /** A version came out after the reader's last download (or after they got it, if never downloaded). */
  updated: boolean
}

/** When the item's latest version came out, and when this user last downloaded it. */
interface Freshness {
  latest_version_at: string | null
  last_download_at: string | null
}

const isUpdated = (row: Freshness & { since: string }): boolean =>
  row.latest_version_at !== null && row.latest_version_at > (row.last_download_at ?? row.since)

/** What the user bought, what was refunded (and not bought again), and free items they took. */
async function libraryOf (db: Kysely<Database>, runner: Runner, userId: number): Promise<LibraryEntry[]> {
  const freshness = (eb: ExpressionBuilder<Database & { content: Database['content'] }, 'content'>) => [
    eb.selectFrom('content_versions').select((v) => v.fn.max<string | null>('content_versions.created_at').as('at'))
      .whereRef('content_versions.content_id', '=', 'content.id').as('latest_version_at'),
    eb.selectFrom('downloads').select((d) => d.fn.max<string | null>('downloads.downloaded_at').as('at'))
      .whereRef('downloads.content_id', '=', 'content.id').where('downloads.user_id', '=', userId).as('last_download_at')
  ]
  const paid = await runner.all(db.selectFrom('library')
    .innerJoin('content', 'content.id', 'library.content_id')
    .innerJoin('orders', 'orders.id', 'library.order_id')
    .select(['content.slug', 'content.title', 'library.granted_at', sql<number>`orders.amount_cents - orders.discount_cents`.as('amount_cents'), 'orders.currency'])
    .select(freshness)
    .where('library.user_id', '=', userId))
  const refunded = await runner.all(db.selectFrom('orders')
    .innerJoin('content', 'content.id', 'orders.content_id')
    .select(['content.slug', 'content.title', 'orders.paid_at', 'orders.created_at', sql<number>`orders.amount_cents - orders.discount_cents`.as('amount_cents'), 'orders.currency'])
    .where('orders.user_id', '=', userId).where('orders.status', '=', 'refunded')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('library').select('library.content_id')
      .whereRef('library.content_id', '=', 'orders.content_id').where('library.user_id', '=', userId)))))
  const free = await runner.all(db.selectFrom('free_library')
    .innerJoin('content', 'content.id', 'free_library.content_id')
    .select(['content.slug', 'content.title', 'free_library.added_at', 'content.currency'])
    .select(freshness)
    .where('free_library.user_id', '=', userId)
    // Free as isFree says: a price of 0, or pay what you want from 0.
    .where((eb) => eb.or([
      eb.and([eb('content.pay_what_you_want', '=', 0), eb('content.price_cents', '=', 0)]),
      eb.and([eb('content.pay_what_you_want', '=', 1), eb('content.min_price_cents', '=', 0)])
    ])))
  const seenRefunds = new Set<string>()
  const entries: LibraryEntry[] = [
    ...paid.map(({ latest_version_at: latest, last_download_at: last, ...row }) => ({
      ...row,
      state: 'paid' as const,
      updated: isUpdated({ latest_version_at: latest as string | null, last_download_at: last as string | null, since: row.granted_at })
    })),
    // One line per refunded item, however many refunded orders it had.
    ...refunded.filter((row) => !seenRefunds.has(row.slug) && seenRefunds.add(row.slug) !== undefined)
      .map((row) => ({ slug: row.slug, title: row.title, granted_at: row.paid_at ?? row.created_at, amount_cents: row.amount_cents, currency: row.currency, state: 'refunded' as const, updated: false })),
    ...free.map(({ latest_version_at: latest, last_download_at: last, added_at: added, ...row }) => ({
      ...row,
      granted_at: added,
      amount_cents: 0,
      state: 'free' as const,
      updated: isUpdated({ latest_version_at: latest as string | null, last_download_at: last as string | null, since: added })
    }))
  ]
  return entries.sort((a, b) => b.granted_at.localeCompare(a.granted_at))
}

export function createCatalog (deps: { db: Kysely<Database>, runner: Runner, changeStamp: () => Promise<string>, files: FileStore, currency: string, maxUploadBytes: number }) {
  const { db, runner, changeStamp, files, currency, maxUploadBytes } = deps

  // The item page's queries, compiled once (see prepared()).
  const bySlug = prepared<[string], Content>((arg) => db.selectFrom('content').selectAll().where('slug', '=', arg<string>(0)))
  const ownership = prepared<[number, number], { content_id: number }>((arg) => db.selectFrom('library')
    .select('content_id').where('user_id', '=', arg<number>(0)).where('content_id', '=', arg<number>(1)))

  // Catalogue pages are kept until the database changes, whoever changed it (this instance, a
  // script, another instance): changeStamp() moves with every commit (see DatabaseHandle). A
  // page read while the stamp moved is served but not kept, so the cache can never hold a page
  // older than the stamp it is kept under.
  let lastStamp = ''
  let cachedTotal: number | undefined
  const pageCache = new Map<string, CatalogPage>()
  const MAX_CACHED_PAGES = 1000
  const searchCache = new Map<string, CatalogPage>()
  let searchStamp = ''

  async function freshCache (): Promise<string> {
    const current = await changeStamp()
    if (current !== lastStamp) {
      lastStamp = current
      cachedTotal = undefined
      pageCache.clear()
    }
    return current
  }

  const freeTaken = prepared<[number, number], { content_id: number }>((arg) => db.selectFrom('free_library')
    .select('content_id').where('user_id', '=', arg<number>(0)).where('content_id', '=', arg<number>(1)))

  return {
    ...createUploads({ db, runner, files, currency, maxUploadBytes }),
    ...createItems({ db, runner, files, maxUploadBytes }),

    async library (userId: number): Promise<LibraryEntry[]> {
      return await libraryOf(db, runner, userId)
    },

    /**
     * One page of the catalogue, newest first (or by price, or by title). The same object is
     * returned until the catalogue changes, so a caller may key its own derived data (rendered
     * HTML) on it.
     */
    async page (page: number, sort: CatalogSort | null = null): Promise<CatalogPage> {
      const stamp = await freshCache()
      const total = cachedTotal ?? (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total')).where('published', '=', 1)))!.total
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const key = `${sort ?? ''}:${current}`
      const cached = pageCache.get(key)
      if (cached !== undefined) return cached
      let query = db.selectFrom('content').where('published', '=', 1).select(ITEM_COLUMNS)
      // Each order is read from its own index (migration 0009), a page at a time.
      if (sort === 'price') query = query.orderBy('price_cents').orderBy('id')
      else if (sort === 'title') query = query.orderBy(sql`title COLLATE NOCASE`).orderBy('id')
      else query = query.orderBy('created_at', 'desc').orderBy('id', 'desc')
      const items = await runner.all(query.limit(PAGE_SIZE).offset((current - 1) * PAGE_SIZE))
      const result = { items, page: current, pages, total, query: '', sort }
      if (await changeStamp() !== stamp) return result
      cachedTotal = total
      if (pageCache.size >= MAX_CACHED_PAGES) pageCache.clear()
      pageCache.set(key, result)
      return result
    },

    /**
     * One page of the published items matching every word of `input` in their title or
     * description: best match first (a word in the title counts more), or in the order asked for.
     * Kept like catalogue pages until the database changes (a popular search is asked again and
     * again), in a cache of its own, bounded, emptied when full.
     */
    async search (input: string, page: number, sort: CatalogSort | null = null): Promise<CatalogPage> {
      const match = ftsQuery(input)
      if (match === undefined) return { items: [], page: 1, pages: 1, total: 0, query: input, sort }
      const stamp = await freshCache()
      if (searchStamp !== stamp) { searchStamp = stamp; searchCache.clear() }
      const key = `${sort ?? ''}:${Math.max(1, page)}:${input}`
      const cached = searchCache.get(key)
      if (cached !== undefined) return cached
      if (runner.dialect === 'postgres') {
        // PostgreSQL's full-text search (src/modules/catalog/search-sql.ts) in place of SQLite's FTS5.
        const queries = postgresSearch(db, input, sort)
        if (queries === undefined) return { items: [], page: 1, pages: 1, total: 0, query: input, sort }
        const total = (await runner.first(queries.count))!.total
        const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
        const current = Math.min(Math.max(1, page), pages)
        const items = total === 0 ? [] : await runner.all(queries.page(PAGE_SIZE, (current - 1) * PAGE_SIZE))
        const result = { items, page: current, pages, total, query: input, sort }
        if (await changeStamp() === stamp && searchCache.size < MAX_CACHED_PAGES) searchCache.set(key, result)
        return result
      }
      const matching = db.selectFrom('content_fts')
        .innerJoin('content', 'content.id', 'content_fts.rowid')
        .where(sql.ref('content_fts'), 'match', match)
        .where('content.published', '=', 1)
      // (bm25() cannot be used beside a window function: the count is a query of its own.)
      const total = (await runner.first(matching.select((eb) => eb.fn.countAll<number>().as('total'))))!.total
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      let query = matching.select(ITEM_COLUMNS)
      if (sort === 'price') query = query.orderBy('content.price_cents').orderBy('content.id')
      else if (sort === 'title') query = query.orderBy(sql`content.title COLLATE NOCASE`).orderBy('content.id')
      else if (sort === 'new') query = query.orderBy('content.created_at', 'desc').orderBy('content.id', 'desc')
      else query = query.orderBy(sql`bm25(content_fts, 5.0, 1.0)`).orderBy('content.id', 'desc')
      const items = total === 0 ? [] : await runner.all(query.limit(PAGE_SIZE).offset((current - 1) * PAGE_SIZE))
      const result = { items, page: current, pages, total, query: input, sort }
      if (await changeStamp() !== stamp) return result
      if (searchCache.size >= MAX_CACHED_PAGES) searchCache.clear()
      searchCache.set(key, result)
      return result
    },

    async find (slug: string): Promise<Content | undefined> {
      return await runner.first(bySlug(slug))
    },

    async findById (id: number): Promise<Content | undefined> {
      return await runner.first(db.selectFrom('content').selectAll().where('id', '=', id))
    },

    async owns (userId: number, contentId: number): Promise<boolean> {
      return await runner.first(ownership(userId, contentId)) !== undefined
    },

    /**
     * Whether the user bought the item and was refunded: what a refused download and the item's
     * page say instead of "you do not own it yet".
     */
    async refunded (userId: number, contentId: number): Promise<boolean> {
      return await runner.first(db.selectFrom('orders').select('id')
        .where('user_id', '=', userId).where('content_id', '=', contentId).where('status', '=', 'refunded').limit(1)) !== undefined
    },

    /** The order that put a bought item in the user's library. */
    async libraryOrder (userId: number, contentId: number): Promise<string | undefined> {
      return (await runner.first(db.selectFrom('library').select('order_id').where('user_id', '=', userId).where('content_id', '=', contentId)))?.order_id
    },

    /** Whether the item is in the user's library: bought, or taken while it was free. */
    async keeps (userId: number, content: Content): Promise<boolean> {
      return await this.owns(userId, content.id) || (isFree(content) && await runner.first(freeTaken(userId, content.id)) !== undefined)
    },

    /** A published item is for everyone to see; an unpublished one for admins and those who keep it. */
    async canView (user: User | null, content: Content): Promise<boolean> {
      if (content.published === 1) return true
      return user !== null && (user.is_admin === 1 || await this.keeps(user.id, content))
    },

    /**
     * Admins download every item; free published items are for every signed-in user; otherwise
     * the user's library decides (an unpublished item stays with those who have it).
     */
    async canDownload (user: User, content: Content): Promise<boolean> {
      if (user.is_admin === 1) return true
      if (content.published === 1 && isFree(content)) return true
      return await this.keeps(user.id, content)
    },

    /**
     * Development only: deletes content, orders, library entries, webhook records and stored
     * files; users stay. Rows go first, in one transaction, so no row ever points at a missing file.
     */
    async flush (): Promise<{ content: number, files: number }> {
      const removed = await runner.transaction(async () => {
        await runner.run(db.deleteFrom('library'))
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
    },

    /**
     * At start, while no upload runs: the store's leftovers and gaps. Temporary files of cut-off
     * uploads are removed; items whose files are gone are reported (and the store remembers them
     * for /healthz). Complete files no row refers to are the sweep's (src/storage/sweep-plugin.ts).
     */
    async reconcile (): Promise<Reconciliation> {
      const temporary = await files.removeTemporary()
      // Every version's file counts, not only the latest: earlier ones are still downloaded.
      const referenced = await this.referencedKeys()
      const missing: Reconciliation['missing'] = []
      for (const [key, slug] of referenced) {
        if (!await files.exists(key)) missing.push({ slug, key })
      }
      return { temporary, missing }
    }
  }
}

export type Catalog = ReturnType<typeof createCatalog>
