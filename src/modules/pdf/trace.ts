import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { type DownloadLogRow, downloadsOfOrder } from '../delivery/plugin.js'
import type { PdfPool } from './pool.js'

/** A stamped copy's story: whose order it was made for, of which item and version, and its downloads. */
export interface Trace {
  orderId: string
  email: string | null
  itemTitle: string
  slug: string
  version: number
  madeAt: string
  orderStatus: string
  downloads: DownloadLogRow[]
  downloadCount: number
  /** How it was found: the copy's own mark, or only the order id (a copy whose mark was stripped). */
  foundBy: 'copy' | 'order'
}

const DOWNLOADS_SHOWN = 50

/**
 * Names the order a copy was stamped for: the engine reads every mark it left in the file (the
 * document's metadata, the file identifier, each page's private data, the hidden text, the
 * visible line), which survive a re-save by another PDF tool; the copy id finds the copy, an
 * order id alone (a copy whose other marks were stripped) the order. Undefined: no mark of this
 * store.
 */
export function createTracer (deps: { db: Kysely<Database>, runner: Runner, pool: PdfPool }) {
  const { db, runner, pool } = deps

  const copies = db.selectFrom('stamped_copies')
    .innerJoin('orders', 'orders.id', 'stamped_copies.order_id')
    .innerJoin('users', 'users.id', 'orders.user_id')
    .innerJoin('content', 'content.id', 'stamped_copies.content_id')
    .select(['stamped_copies.order_id', 'stamped_copies.version', 'stamped_copies.created_at', 'users.email', 'content.title', 'content.slug',
      'orders.status', 'orders.user_id', 'orders.content_id', 'orders.created_at as order_created_at'])

  return async function trace (path: string): Promise<Trace | undefined> {
    const found = await pool.readStamp(path)
    let foundBy: Trace['foundBy'] = 'copy'
    let row = found.copyIds.length === 0 ? undefined : await runner.first(copies.where('stamped_copies.copy_id', 'in', found.copyIds.slice(0, 20)))
    if (row === undefined && found.orderIds.length > 0) {
      foundBy = 'order'
      row = await runner.first(copies.where('stamped_copies.order_id', 'in', found.orderIds.slice(0, 20)).orderBy('stamped_copies.version', 'desc'))
    }
    if (row === undefined) return undefined
    const { rows, total } = await downloadsOfOrder(db, runner, { id: row.order_id, user_id: row.user_id, content_id: row.content_id, created_at: row.order_created_at }, DOWNLOADS_SHOWN)
    return {
      orderId: row.order_id,
      email: row.email,
      itemTitle: row.title,
      slug: row.slug,
      version: row.version,
      madeAt: row.created_at,
      orderStatus: row.status,
      downloads: rows,
      downloadCount: total,
      foundBy
    }
  }
}
