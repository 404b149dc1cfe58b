import { isFree } from '../../lib/pricing.js'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, DownloadVia, Order } from '../../db/types.js'

/**
 * How long after its first request a download can be continued by Range requests, counted once.
 * The window is fixed: later requests do not extend it, so past DOWNLOAD_LIMIT a client cannot
 * keep a download open for ever with a request every few minutes. A reader who resumes later
 * starts a new download (and a new count). An hour lets a large file finish on a slow line.
 */
export const DOWNLOAD_WINDOW_MS = 60 * 60 * 1000

/** One request for a file, as the download routes see it. */
export interface DownloadRequest {
  /** The purchase downloaded: a link's order, or the library entry's order of a paid item. */
  orderId: string | null
  userId: number
  email: string | null
  content: Content
  version: number
  via: DownloadVia
  /** The Range header, if any, and the size of the file it applies to. */
  range: string | undefined
  size: number
  address: string
  userAgent: string
  /** Downloads allowed for this purchase (DOWNLOAD_LIMIT); 0 = unlimited. */
  limit: number
}

export type DownloadOutcome =
  /** `counted`: this request started a new download (row `id`); otherwise it continued that one. */
  | { allowed: true, counted: boolean, id: number, bytes: number }
  /** Past the limit: nothing recorded, nothing to send. */
  | { allowed: false, count: number }
  /** A Range nothing of the file satisfies: the 416 sends nothing, so nothing is recorded. */
  | { allowed: true, counted: false, id: null, bytes: 0 }

export interface DownloadLogRow {
  downloaded_at: string
  last_request_at: string | null
  via: DownloadVia
  version: number
  bytes: number
  requests: number
  client_address: string | null
  user_agent: string | null
  email: string | null
}

export interface OrderKey { id: string, user_id: number, content_id: number, created_at: string }

/** An order's downloads, newest first (at most `max`), and how many there are in all. */
export async function downloadsOfOrder (db: Kysely<Database>, runner: Runner, order: OrderKey, max: number): Promise<{ rows: DownloadLogRow[], total: number }> {
  // Rows from before the log knew orders (no order_id) belong to the buyer's downloads of the item since the order.
  const mine = db.selectFrom('downloads').where((eb) => eb.or([
    eb('order_id', '=', order.id),
    eb.and([eb('order_id', 'is', null), eb('user_id', '=', order.user_id), eb('content_id', '=', order.content_id), eb('downloaded_at', '>=', order.created_at)])
  ]))
  const rows = await runner.all(mine.select(['downloaded_at', 'last_request_at', 'via', 'version', 'bytes', 'requests', 'client_address', 'user_agent', 'email'])
    .orderBy('downloaded_at', 'desc').orderBy('id', 'desc').limit(max))
  const total = (await runner.first(mine.select((eb) => eb.fn.countAll<number>().as('n'))))!.n
  return { rows, total }
}

/**
 * What a Range header asks of a file of `size` bytes: where the range starts and how many bytes
 * it covers. `whole` whenever a server might send the whole file for it: no header, another unit,
 * a malformed range, or several ranges (@fastify/send and the object store path send those whole,
 * nginx as a multipart answer holding every byte asked). `unsatisfiable` when the file holds none
 * of it (a 416). The caller passes no header when an If-Range does not match (whole again).
 */
export function rangeAsked (header: string | undefined, size: number): { start: number, bytes: number } | 'whole' | 'unsatisfiable' {
  if (header === undefined) return 'whole'
  const range = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (range === null || (range[1] === '' && range[2] === '')) return 'whole'
  let first: number
  let last: number
  if (range[1] === '') {
    first = Math.max(0, size - Number(range[2]))
    last = size - 1
  } else {
    first = Number(range[1])
    last = range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1)
    if (range[2] !== '' && Number(range[2]) < first) return 'whole'
  }
  if (first > last || first >= size) return 'unsatisfiable'
  return { start: first, bytes: last - first + 1 }
}

/**
 * A Range request after byte 0 continues the same purchase's download by the same client of the
 * same version started within `window`: its bytes and request are added there. The download's
 * id, or undefined when there is none to continue.
 */
async function continueRecent (db: Kysely<Database>, runner: Runner, request: DownloadRequest, at: Date, window: number, bytes: number): Promise<number | undefined> {
  let same = db.selectFrom('downloads').select('id')
    .where('content_id', '=', request.content.id).where('version', '=', request.version)
    .where('client_address', '=', request.address).where('user_agent', '=', request.userAgent)
    .where('downloaded_at', '>=', new Date(at.getTime() - window).toISOString())
  same = request.via === 'link' && request.orderId !== null
    ? same.where('order_id', '=', request.orderId)
    : same.where('user_id', '=', request.userId)
  const current = await runner.first(same.orderBy('downloaded_at', 'desc').limit(1))
  if (current === undefined) return undefined
  await runner.run(db.updateTable('downloads')
    .set((eb) => ({ bytes: eb('bytes', '+', bytes), requests: eb('requests', '+', 1), last_request_at: at.toISOString() }))
    .where('id', '=', current.id))
  return current.id
}

/** A new download in the log (the one DOWNLOAD_LIMIT counts); a free item read from the library joins it. Its id. */
async function startDownload (db: Kysely<Database>, runner: Runner, request: DownloadRequest, at: Date, bytes: number): Promise<number> {
  const iso = at.toISOString()
  const inserted = (await runner.first(db.insertInto('downloads').values({
    user_id: request.userId,
    content_id: request.content.id,
    version: request.version,
    order_id: request.orderId,
    email: request.email,
    via: request.via,
    bytes,
    client_address: request.address,
    user_agent: request.userAgent,
    downloaded_at: iso,
    last_request_at: iso
  }).returning('id')))!
  // A free item downloaded by a signed-in reader joins their library.
  if (request.via === 'library' && isFree(request.content)) {
    await runner.run(db.insertInto('free_library').values({ user_id: request.userId, content_id: request.content.id })
      .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))
  }
  return inserted.id
}

/**
 * The download log and its counting rule. One download is every request of one purchase (a
 * link's order, or a user's item from the library) by one client (address and user agent) for
 * one file version, continued by Range requests starting after byte 0 within `window`
 * (DOWNLOAD_WINDOW_MS) of its first request: those add their bytes to it. Any other request
 * starts a new download, which is what DOWNLOAD_LIMIT counts (per order).
 */
export function createDownloads (deps: { db: Kysely<Database>, runner: Runner, now?: () => Date, window?: number }) {
  const { db, runner } = deps
  const now = deps.now ?? (() => new Date())
  const window = deps.window ?? DOWNLOAD_WINDOW_MS

  // Per item of the order: a bundle's order allows DOWNLOAD_LIMIT downloads of each of its items.
  const countOf = async (orderId: string, contentId: number): Promise<number> =>
    (await runner.first(db.selectFrom('downloads').select((eb) => eb.fn.countAll<number>().as('n')).where('order_id', '=', orderId).where('content_id', '=', contentId)))!.n

  return {
    window,

    /** The order a download link names, with its buyer's address (for the log). */
    async linkOrder (orderId: string): Promise<(Order & { email: string | null }) | undefined> {
      return await runner.first(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
        .selectAll('orders').select('users.email').where('orders.id', '=', orderId))
    },

    /** The downloads of an order's item counted so far. */
    count: countOf,

    /**
     * Records one request (GET, not HEAD) before its file is sent, and says whether it may be
     * sent: a new download past the limit may not; a continued one always may (the reader was
     * let in when it started). Past the limit a range nothing satisfies is refused too: a 403
     * sends nothing either, and no server's reading of it can turn into the whole file.
     */
    async record (request: DownloadRequest): Promise<DownloadOutcome> {
      const asked = rangeAsked(request.range, request.size)
      if (asked === 'unsatisfiable') {
        if (request.limit > 0 && request.orderId !== null) {
          const count = await countOf(request.orderId, request.content.id)
          if (count >= request.limit) return { allowed: false, count }
        }
        return { allowed: true, counted: false, id: null, bytes: 0 }
      }
      const at = now()
      const bytes = asked === 'whole' ? request.size : asked.bytes
      const continues = asked !== 'whole' && asked.start > 0
      return await runner.transaction(async (): Promise<DownloadOutcome> => {
        if (continues) {
          const continued = await continueRecent(db, runner, request, at, window, bytes)
          if (continued !== undefined) return { allowed: true, counted: false, id: continued, bytes }
        }
        if (request.limit > 0 && request.orderId !== null) {
          const count = await countOf(request.orderId, request.content.id)
          if (count >= request.limit) return { allowed: false, count }
        }
        return { allowed: true, counted: true, id: await startDownload(db, runner, request, at, bytes), bytes }
      })
    },

    /**
     * Takes back a request recorded before its answer turned out to send nothing (a 304 to a
     * conditional request, a 412, a 416): a new download is removed, a continued one loses the bytes.
     */
    async cancel (outcome: DownloadOutcome): Promise<void> {
      if (!outcome.allowed || outcome.id === null) return
      if (outcome.counted) {
        await runner.run(db.deleteFrom('downloads').where('id', '=', outcome.id))
      } else {
        await runner.run(db.updateTable('downloads')
          .set((eb) => ({ bytes: eb('bytes', '-', outcome.bytes), requests: eb('requests', '-', 1) }))
          .where('id', '=', outcome.id))
      }
    },

    /** An order's downloads, newest first (at most `max`), and how many there are in all. */
    async ofOrder (order: OrderKey, max = 100): Promise<{ rows: DownloadLogRow[], total: number }> {
      return await downloadsOfOrder(db, runner, order, max)
    }
  }
}

export type Downloads = ReturnType<typeof createDownloads>
