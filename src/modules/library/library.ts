import { paidSql } from '../../db/order-amounts.js'
import { type ExpressionBuilder, type Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'

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
    .select(['content.slug', 'content.title', 'library.granted_at', paidSql().as('amount_cents'), 'orders.currency'])
    .select(freshness)
    .where('library.user_id', '=', userId))
  const refunded = await runner.all(db.selectFrom('orders')
    .innerJoin('content', 'content.id', 'orders.content_id')
    .select(['content.slug', 'content.title', 'orders.paid_at', 'orders.created_at', paidSql().as('amount_cents'), 'orders.currency'])
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

/** A reader's library: what they bought, had refunded, or took free. */
export function createLibrary (deps: { db: Kysely<Database>, runner: Runner }) {
  const { db, runner } = deps
  return {
    async entries (userId: number): Promise<LibraryEntry[]> {
      return await libraryOf(db, runner, userId)
    }
  }
}

export type Library = ReturnType<typeof createLibrary>
