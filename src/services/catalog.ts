import { type Compilable, type ExpressionBuilder, type Kysely, sql } from 'kysely'
import type { SyncRunner } from '../db/database.js'
import type { Content, Database, User } from '../db/types.js'
import type { FileStore } from './file-store.js'
import { createItems } from './items.js'
import { createUploads } from './uploads.js'

export const PAGE_SIZE = 24

export type CatalogItem = Pick<Content, 'id' | 'slug' | 'title' | 'price_cents' | 'currency' | 'created_at'>

export interface CatalogPage {
  items: CatalogItem[]
  page: number
  pages: number
  total: number
}

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
async function libraryOf (db: Kysely<Database>, userId: number): Promise<LibraryEntry[]> {
  const freshness = (eb: ExpressionBuilder<Database & { content: Database['content'] }, 'content'>) => [
    eb.selectFrom('content_versions').select((v) => v.fn.max<string | null>('content_versions.created_at').as('at'))
      .whereRef('content_versions.content_id', '=', 'content.id').as('latest_version_at'),
    eb.selectFrom('downloads').select((d) => d.fn.max<string | null>('downloads.downloaded_at').as('at'))
      .whereRef('downloads.content_id', '=', 'content.id').where('downloads.user_id', '=', userId).as('last_download_at')
  ]
  const paid = await db.selectFrom('library')
    .innerJoin('content', 'content.id', 'library.content_id')
    .innerJoin('orders', 'orders.id', 'library.order_id')
    .select(['content.slug', 'content.title', 'library.granted_at', 'orders.amount_cents', 'orders.currency'])
    .select(freshness)
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
    .select(freshness)
    .where('free_library.user_id', '=', userId).where('content.price_cents', '=', 0)
    .execute()
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

  const freeTaken = (userId: number, contentId: number) => db.selectFrom('free_library')
    .select('content_id').where('user_id', '=', userId).where('content_id', '=', contentId)

  return {
    ...createUploads({ db, sync, files, currency, maxUploadBytes }),
    ...createItems({ db, sync, files, maxUploadBytes }),

    async library (userId: number): Promise<LibraryEntry[]> {
      return await libraryOf(db, userId)
    },

    /**
     * One page of the catalogue, newest first. The same object is returned until the catalogue
     * changes, so a caller may key its own derived data (rendered HTML) on it.
     */
    async page (page: number): Promise<CatalogPage> {
      freshCache()
      total ??= sync.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('total')).where('published', '=', 1))!.total
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const cached = pageCache.get(current)
      if (cached !== undefined) return cached
      const items = sync.all(db.selectFrom('content').where('published', '=', 1)
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

    /** Whether the item is in the user's library: bought, or taken while it was free. */
    keeps (userId: number, content: Content): boolean {
      return this.owns(userId, content.id) || (content.price_cents === 0 && sync.first(freeTaken(userId, content.id)) !== undefined)
    },

    /** A published item is for everyone to see; an unpublished one for admins and those who keep it. */
    canView (user: User | null, content: Content): boolean {
      if (content.published === 1) return true
      return user !== null && (user.is_admin === 1 || this.keeps(user.id, content))
    },

    /**
     * Admins download every item; free published items are for every signed-in user; otherwise
     * the user's library decides (an unpublished item stays with those who have it).
     */
    canDownload (user: User, content: Content): boolean {
      if (user.is_admin === 1) return true
      if (content.published === 1 && content.price_cents === 0) return true
      return this.keeps(user.id, content)
    },

    /** Every download is recorded (with the version served); a free item downloaded by a signed-in reader joins their library. */
    recordDownload (userId: number, content: Content, version = 1): void {
      sync.transaction(() => {
        sync.run(db.insertInto('downloads').values({ user_id: userId, content_id: content.id, version }))
        if (content.price_cents === 0) {
          sync.run(db.insertInto('free_library').values({ user_id: userId, content_id: content.id })
            .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
        }
      })
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
        sync.run(db.deleteFrom('content_versions'))
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
      // Every version's file counts, not only the latest: earlier ones are still downloaded.
      const referenced = this.referencedKeys()
      const swept = await files.sweep(new Set(referenced.keys()))
      const missing: Reconciliation['missing'] = []
      for (const [key, slug] of referenced) {
        if (!await files.exists(key)) missing.push({ slug, key })
      }
      return { temporary, ...swept, missing }
    }
  }
}

export type Catalog = ReturnType<typeof createCatalog>
