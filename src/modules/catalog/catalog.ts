import { type Kysely, sql } from 'kysely'
import { prepared } from '../../db/prepared.js'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, User } from '../../db/types.js'
import { isFree } from '../../lib/pricing.js'
import { postgresSearch } from './search-sql.js'
import { bundleSize, type CatalogItem, type CatalogSort, ftsQuery } from './search-words.js'

export { type CatalogItem, type CatalogSort, ftsQuery, MAX_QUERY_WORDS, SORTS } from './search-words.js'

/** An item a bundle holds, as the bundle's page lists it. */
export type BundleEntry = Pick<Content, 'id' | 'slug' | 'title' | 'page_count' | 'published'>

export const PAGE_SIZE = 24

export interface CatalogPage {
  items: CatalogItem[]
  page: number
  pages: number
  total: number
  /** The search as typed ('' for the plain listing) and the order asked for: the pager keeps both. */
  query: string
  sort: CatalogSort | null
}

const ITEM_COLUMNS = ['content.id', 'content.slug', 'content.title', 'content.price_cents', 'content.currency', 'content.created_at', 'content.pay_what_you_want', 'content.min_price_cents', 'content.kind', bundleSize] as const

const MAX_CACHED_PAGES = 1000

interface Deps { db: Kysely<Database>, runner: Runner, changeStamp: () => Promise<string> }

/** Which page of how many a request for `page` lands on. */
function pageOf (page: number, total: number): { current: number, pages: number, offset: number } {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
  const current = Math.min(Math.max(1, page), pages)
  return { current, pages, offset: (current - 1) * PAGE_SIZE }
}

/** One page of the published items matching every word of `input`, by SQLite's FTS5 or PostgreSQL's full-text search. */
async function searchPage (deps: Deps, input: string, page: number, sort: CatalogSort | null): Promise<CatalogPage> {
  const { db, runner } = deps
  const empty = { items: [], page: 1, pages: 1, total: 0, query: input, sort }
  const match = ftsQuery(input)
  if (match === undefined) return empty
  if (runner.dialect === 'postgres') {
    // PostgreSQL's full-text search (search-sql.ts) in place of SQLite's FTS5.
    const queries = postgresSearch(db, input, sort)
    if (queries === undefined) return empty
    const total = (await runner.first(queries.count))!.total
    const { current, pages, offset } = pageOf(page, total)
    const items = total === 0 ? [] : await runner.all(queries.page(PAGE_SIZE, offset))
    return { items, page: current, pages, total, query: input, sort }
  }
  const matching = db.selectFrom('content_fts')
    .innerJoin('content', 'content.id', 'content_fts.rowid')
    .where(sql.ref('content_fts'), 'match', match)
    .where('content.published', '=', 1)
  // (bm25() cannot be used beside a window function: the count is a query of its own.)
  const total = (await runner.first(matching.select((eb) => eb.fn.countAll<number>().as('total'))))!.total
  const { current, pages, offset } = pageOf(page, total)
  let query = matching.select(ITEM_COLUMNS)
  if (sort === 'price') query = query.orderBy('content.price_cents').orderBy('content.id')
  else if (sort === 'title') query = query.orderBy(sql`content.title COLLATE NOCASE`).orderBy('content.id')
  else if (sort === 'new') query = query.orderBy('content.created_at', 'desc').orderBy('content.id', 'desc')
  else query = query.orderBy(sql`bm25(content_fts, 5.0, 1.0)`).orderBy('content.id', 'desc')
  const items = total === 0 ? [] : await runner.all(query.limit(PAGE_SIZE).offset(offset))
  return { items, page: current, pages, total, query: input, sort }
}

/**
 * The catalogue's pages and searches, kept until the database changes, whoever changed it (this
 * instance, a script, another instance): changeStamp() moves with every commit (see
 * DatabaseHandle). A page read while the stamp moved is served but not kept, so the cache can
 * never hold a page older than the stamp it is kept under.
 */
function createBrowsing (deps: Deps) {
  const { db, runner, changeStamp } = deps
  let lastStamp = ''
  let cachedTotal: number | undefined
  const pageCache = new Map<string, CatalogPage>()
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

  return {
    /**
     * One page of the catalogue, newest first (or by price, or by title). The same object is
     * returned until the catalogue changes, so a caller may key its own derived data (rendered
     * HTML) on it.
     */
    async page (page: number, sort: CatalogSort | null = null): Promise<CatalogPage> {
      const stamp = await freshCache()
      const total = cachedTotal ?? (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total')).where('published', '=', 1)))!.total
      const { current, pages, offset } = pageOf(page, total)
      const key = `${sort ?? ''}:${current}`
      const cached = pageCache.get(key)
      if (cached !== undefined) return cached
      let query = db.selectFrom('content').where('published', '=', 1).select(ITEM_COLUMNS)
      // Each order is read from its own index (migration 0009), a page at a time.
      if (sort === 'price') query = query.orderBy('price_cents').orderBy('id')
      else if (sort === 'title') query = query.orderBy(sql`title COLLATE NOCASE`).orderBy('id')
      else query = query.orderBy('created_at', 'desc').orderBy('id', 'desc')
      const items = await runner.all(query.limit(PAGE_SIZE).offset(offset))
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
      if (ftsQuery(input) === undefined) return { items: [], page: 1, pages: 1, total: 0, query: input, sort }
      const stamp = await freshCache()
      if (searchStamp !== stamp) { searchStamp = stamp; searchCache.clear() }
      const key = `${sort ?? ''}:${Math.max(1, page)}:${input}`
      const cached = searchCache.get(key)
      if (cached !== undefined) return cached
      const result = await searchPage(deps, input, page, sort)
      if (await changeStamp() !== stamp) return result
      if (searchCache.size >= MAX_CACHED_PAGES) searchCache.clear()
      searchCache.set(key, result)
      return result
    }
  }
}

/** Who may see, buy again or download an item: the item page's and the download's questions. */
function createAccess (deps: Deps) {
  const { db, runner } = deps
  // The item page's queries, compiled once (see prepared()).
  const bySlug = prepared<[string], Content>((arg) => db.selectFrom('content').selectAll().where('slug', '=', arg<string>(0)))
  const ownership = prepared<[number, number], { content_id: number }>((arg) => db.selectFrom('library')
    .select('content_id').where('user_id', '=', arg<number>(0)).where('content_id', '=', arg<number>(1)))
  const freeTaken = prepared<[number, number], { content_id: number }>((arg) => db.selectFrom('free_library')
    .select('content_id').where('user_id', '=', arg<number>(0)).where('content_id', '=', arg<number>(1)))

  async function owns (userId: number, contentId: number): Promise<boolean> {
    return await runner.first(ownership(userId, contentId)) !== undefined
  }

  /** Whether every item of the bundle is in the user's library (through any order). */
  async function holdsAll (userId: number, bundleId: number): Promise<boolean> {
    const missing = await runner.first(db.selectFrom('bundle_items').select('item_id').where('bundle_id', '=', bundleId)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('library').select('library.content_id')
        .whereRef('library.content_id', '=', 'bundle_items.item_id').where('library.user_id', '=', userId)))).limit(1))
    return missing === undefined
  }

  /** Whether the item is in the user's library: bought, or taken while it was free; a bundle: every item of it. */
  async function keeps (userId: number, content: Content): Promise<boolean> {
    if (content.kind === 'bundle') return await holdsAll(userId, content.id)
    return await owns(userId, content.id) || (isFree(content) && await runner.first(freeTaken(userId, content.id)) !== undefined)
  }

  return {
    owns,
    keeps,

    /** What a bundle holds, in its order. */
    async bundleItems (bundleId: number): Promise<BundleEntry[]> {
      return await runner.all(db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.item_id')
        .select(['content.id', 'content.slug', 'content.title', 'content.page_count', 'content.published'])
        .where('bundle_items.bundle_id', '=', bundleId).orderBy('bundle_items.position'))
    },

    /** The published bundles that hold the item: its page says "Also in the bundle ...". */
    async bundlesHolding (itemId: number): Promise<Array<Pick<Content, 'slug' | 'title'>>> {
      return await runner.all(db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.bundle_id')
        .select(['content.slug', 'content.title'])
        .where('bundle_items.item_id', '=', itemId).where('content.published', '=', 1).orderBy('content.title').limit(5))
    },

    async find (slug: string): Promise<Content | undefined> {
      return await runner.first(bySlug(slug))
    },

    async findById (id: number): Promise<Content | undefined> {
      return await runner.first(db.selectFrom('content').selectAll().where('id', '=', id))
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

    /** A published item is for everyone to see; an unpublished one for admins and those who keep it. */
    async canView (user: User | null, content: Content): Promise<boolean> {
      if (content.published === 1) return true
      return user !== null && (user.is_admin === 1 || await keeps(user.id, content))
    },

    /**
     * Admins download every item; free published items are for every signed-in user; otherwise
     * the user's library decides (an unpublished item stays with those who have it).
     */
    async canDownload (user: User, content: Content): Promise<boolean> {
      if (user.is_admin === 1) return true
      if (content.published === 1 && isFree(content)) return true
      return await keeps(user.id, content)
    }
  }
}

/** The items for sale as visitors see them: pages, search, and who may see or download what. */
export function createCatalog (deps: Deps) {
  return { ...createBrowsing(deps), ...createAccess(deps) }
}

export type Catalog = ReturnType<typeof createCatalog>
