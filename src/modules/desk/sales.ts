import { type Expression, type ExpressionBuilder, type Kysely, type SqlBool, sql } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, OrderStatus, PaymentProviderName } from '../../db/types.js'
import { csvLine } from '../../lib/csv.js'
import { keptNetSql, paidSql } from '../../db/order-amounts.js'
import { type DownloadLogRow, downloadsOfOrder } from '../delivery/plugin.js'
import { saleFigures } from './sale-figures.js'
import { createTaxReport, type TaxQuarter } from './tax-report.js'
import { toDecimal } from '../../lib/money.js'

export const ORDER_STATUSES: readonly OrderStatus[] = ['pending', 'paid', 'failed', 'expired', 'refunded', 'review']
export const ORDERS_PAGE_SIZE = 50
export const CUSTOMERS_PAGE_SIZE = 50
export const CSV_HEADER = ['order_id', 'created_at', 'paid_at', 'status', 'item_slug', 'item_title', 'buyer_email', 'amount', 'currency', 'payment_intent'] as const
const CSV_BATCH = 500
const DAY_MS = 24 * 60 * 60 * 1000

/** What the order list and the CSV export are narrowed to. */
export interface OrderFilter {
  status?: OrderStatus
  /** Part of the buyer's e-mail, or of the item's title or slug. */
  q?: string
}

/** A place in the newest-first order list: the (created_at, id) of a row. */
export interface Cursor { createdAt: string, id: string }

export interface OrderRow {
  id: string
  created_at: string
  paid_at: string | null
  status: OrderStatus
  /** The price the order was for; the buyer paid paid_cents (less a promotion's discount_cents, plus tax added on top). */
  amount_cents: number
  discount_cents: number
  paid_cents: number
  /** The tax in paid_cents; tax_behavior how it was asked (null: no automatic tax). */
  tax_cents: number
  tax_behavior: 'exclusive' | 'inclusive' | null
  buyer_country: string | null
  buyer_tax_ids: string | null
  invoice_id: string | null
  /** How much of paid_cents went back to the buyer (some of it: the order stays paid). */
  refunded_cents: number
  currency: string
  /** The provider that took the money ('stripe', 'mollie'). */
  provider: PaymentProviderName
  payment_intent: string | null
  provider_checkout_id: string | null
  user_id: number
  buyer_email: string | null
  buyer_name: string | null
  content_id: number
  item_slug: string
  item_title: string
}

export interface OrdersPage {
  rows: OrderRow[]
  total: number
  /** Cursors for the links to the newer and the older page; null at either end. */
  newer: string | null
  older: string | null
}

/** Revenue net of tax: gross what the sales brought less their tax, net that less refunds (and their tax). */
export interface Revenue { gross: number, refunded: number, net: number, sales: number }

export interface Dashboard {
  currency: string
  windows: { week: Revenue, month: Revenue, all: Revenue }
  /** The last 30 UTC days, oldest first, today last. */
  daily: Array<{ day: string, amount: number, sales: number }>
  items: Array<{ slug: string, title: string, sales: number, refunds: number, net: number }>
  latest: OrderRow[]
  /** The tax collected per country per quarter (this quarter and the three before). */
  tax: TaxQuarter[]
}

export interface TimelineEntry {
  at: string
  kind: 'created' | 'session' | 'redirect' | 'webhook' | 'refund' | 'failed' | 'expired' | 'download'
  detail: string | null
}

export interface OrderDetail {
  order: OrderRow
  timeline: TimelineEntry[]
  /** The download log of this order, newest first: library and link downloads alike. */
  downloads: DownloadLogRow[]
  /** Downloads beyond those shown (a buyer who downloads daily). */
  moreDownloads: number
}

export interface Customer {
  id: number
  email: string | null
  name: string | null
  orders: number
  paid_orders: number
  spent: number
  first_purchase: string | null
  last_purchase: string | null
}

export interface CustomersPage { customers: Customer[], page: number, pages: number, total: number }

/** `before`/`after` links carry a row's place as "created_at|id". */
export function parseCursor (value: string | undefined): Cursor | undefined {
  const match = value === undefined ? null : /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z)\|([\w-]{1,100})$/.exec(value)
  return match === null ? undefined : { createdAt: match[1]!, id: match[2]! }
}
const cursorOf = (row: { created_at: string, id: string }): string => `${row.created_at}|${row.id}`

/** LIKE with the search taken literally (% and _ in it match themselves), ignoring case on both engines. */
function contains (ref: string, text: string) {
  // lower() on both sides: SQLite's LIKE ignores ASCII case, PostgreSQL's does not.
  return sql<SqlBool>`lower(${sql.ref(ref)}) like lower(${'%' + text.replace(/[\\%_]/g, (c) => '\\' + c) + '%'}) escape '\\'`
}

/** Start of the UTC day `days` before the one `now` is in. */
function dayStart (now: Date, days: number): Date {
  const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()))
  return new Date(start.getTime() - days * DAY_MS)
}

type Deps = { db: Kysely<Database>, runner: Runner, currency: string }

/** Orders with their buyer and item, as the list, the order page and the export show them. */
const orderRows = (db: Kysely<Database>) => db.selectFrom('orders')
  .innerJoin('users', 'users.id', 'orders.user_id')
  .innerJoin('content', 'content.id', 'orders.content_id')
  .select([
    'orders.id', 'orders.created_at', 'orders.paid_at', 'orders.status', 'orders.amount_cents', 'orders.discount_cents',
    paidSql().as('paid_cents'), 'orders.refunded_cents', 'orders.currency', 'orders.provider',
    'orders.tax_cents', 'orders.tax_behavior', 'orders.buyer_country', 'orders.buyer_tax_ids', 'orders.invoice_id',
    'orders.provider_payment_id as payment_intent', 'orders.provider_checkout_id', 'orders.user_id', 'users.email as buyer_email', 'users.name as buyer_name',
    'orders.content_id', 'content.slug as item_slug', 'content.title as item_title'
  ])

/**
 * The filter as conditions on orders alone: the search is resolved through the (small) users
 * and content tables once, so the list still walks the orders index newest first.
 */
function filtered (eb: ExpressionBuilder<Database, 'orders'>, filter: OrderFilter): Expression<SqlBool> {
  const conditions: Array<Expression<SqlBool>> = []
  if (filter.status !== undefined) conditions.push(eb('orders.status', '=', filter.status))
  const q = filter.q?.trim()
  if (q !== undefined && q !== '') {
    conditions.push(eb.or([
      eb('orders.user_id', 'in', eb.selectFrom('users').select('users.id').where(contains('users.email', q))),
      eb('orders.content_id', 'in', eb.selectFrom('content').select('content.id').where((c) => c.or([contains('content.title', q), contains('content.slug', q)])))
    ]))
  }
  return eb.and(conditions)
}

/** The order list: one page at a time by keyset, one order with its timeline, the CSV export. */
function createOrderList (deps: Deps) {
  const { db, runner } = deps

  /** Newest first from `before` (exclusive), or oldest first from `after` (exclusive). */
  async function slice (filter: OrderFilter, limit: number, place: { before?: Cursor, after?: Cursor } = {}): Promise<OrderRow[]> {
    let query = orderRows(db).where((eb) => filtered(eb, filter))
    if (place.after !== undefined) {
      const { createdAt, id } = place.after
      query = query.where((eb) => eb(eb.refTuple('orders.created_at', 'orders.id'), '>', eb.tuple(createdAt, id)))
        .orderBy('orders.created_at', 'asc').orderBy('orders.id', 'asc')
    } else {
      if (place.before !== undefined) {
        const { createdAt, id } = place.before
        query = query.where((eb) => eb(eb.refTuple('orders.created_at', 'orders.id'), '<', eb.tuple(createdAt, id)))
      }
      query = query.orderBy('orders.created_at', 'desc').orderBy('orders.id', 'desc')
    }
    return await runner.all(query.limit(limit)) as OrderRow[]
  }

  async function count (filter: OrderFilter): Promise<number> {
    return (await runner.first(db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where((eb) => filtered(eb, filter))))!.n
  }

  return {
    slice,

    /** One page of the order list, newest first, by keyset: as fast on the last page as the first. */
    async orders (filter: OrderFilter, place: { before?: Cursor, after?: Cursor } = {}, size = ORDERS_PAGE_SIZE): Promise<OrdersPage> {
      const fetched = await slice(filter, size + 1, place)
      const more = fetched.length > size
      const rows = fetched.slice(0, size)
      if (place.after !== undefined) rows.reverse()
      const first = rows[0]
      const last = rows[rows.length - 1]
      // Walking back (after) we know there are older rows; walking forward (before), newer ones.
      const hasNewer = place.after !== undefined ? more : place.before !== undefined
      const hasOlder = place.after !== undefined ? true : more
      return {
        rows,
        total: await count(filter),
        newer: hasNewer && first !== undefined ? cursorOf(first) : null,
        older: hasOlder && last !== undefined ? cursorOf(last) : null
      }
    },

    /** The order with its buyer and item, and its timeline with the buyer's downloads of the item. */
    async order (orderId: string, maxDownloads = 100): Promise<OrderDetail | undefined> {
      const order = await runner.first(orderRows(db).where('orders.id', '=', orderId)) as OrderRow | undefined
      if (order === undefined) return undefined
      const events = await runner.all(db.selectFrom('order_events').select(['at', 'kind', 'detail'])
        .where('order_id', '=', orderId).orderBy('at').orderBy('id'))
      const { rows: downloads, total: totalDownloads } = await downloadsOfOrder(db, runner, order, maxDownloads)
      const timeline: TimelineEntry[] = [
        ...events.map((event) => ({ at: event.at, kind: event.kind as TimelineEntry['kind'], detail: event.detail })),
        ...downloads.map((download) => ({ at: download.downloaded_at, kind: 'download' as const, detail: `version ${download.version}${download.via === 'link' ? ', by emailed link' : ''}` }))
      ].sort((a, b) => a.at.localeCompare(b.at))
      return { order, timeline, downloads, moreDownloads: totalDownloads - downloads.length }
    },

    /**
     * The CSV export, a batch of rows at a time by keyset (never the whole table in memory):
     * pulled by a Readable, so a slow client slows the reading, and other requests run between
     * batches.
     */
    async * csv (filter: OrderFilter, batch = CSV_BATCH): AsyncGenerator<string> {
      yield csvLine(CSV_HEADER)
      let before: Cursor | undefined
      for (;;) {
        const rows = await slice(filter, batch, { before })
        if (rows.length === 0) return
        yield rows.map((row) => csvLine([
          row.id, row.created_at, row.paid_at, row.status, row.item_slug, row.item_title, row.buyer_email,
          // What the buyer paid: the order's amount less a promotion's discount, plus tax added on top.
          toDecimal(row.paid_cents, row.currency), row.currency, row.payment_intent
        ])).join('')
        if (rows.length < batch) return
        const last = rows[rows.length - 1]!
        before = { createdAt: last.created_at, id: last.id }
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
  }
}

/** The figures: revenue by window and by day, the best-selling items, the customers. */
function createFigures (deps: Deps, slice: ReturnType<typeof createOrderList>['slice'], taxReport: ReturnType<typeof createTaxReport>) {
  const { db, runner, currency } = deps

  /**
   * Revenue in the store's currency, counted by the day a sale was paid (UTC days), each order
   * at what the buyer paid (its amount less a promotion's discount) less the tax in it (the tax
   * authority's money, not the creator's):
   * - gross: the amounts of the orders paid in the window (paid_at set), whatever became of them;
   * - refunded: what of those same orders went back to their buyers (in full or in part), less
   *   the tax that went back with it;
   * - net = gross - refunded, so a refund lowers the net of the window its sale is in.
   * Orders never granted (pending, failed, expired, held for review, or refunded before they
   * were fulfilled) took no money we kept and are not counted; orders in another currency (the
   * store's currency changed) are left out rather than added to a different unit.
   * "Last 7 days" is today and the six days before it, "last 30 days" today and the 29 before.
   */
  async function revenue (since: Date | null): Promise<Revenue> {
    let query = db.selectFrom('orders')
      .select([
        sql<number>`coalesce(sum(${paidSql()} - orders.tax_cents), 0)`.as('gross'),
        sql<number>`coalesce(sum(${keptNetSql()}), 0)`.as('net'),
        sql<number>`count(*)`.as('sales')
      ])
      .where('paid_at', 'is not', null).where('currency', '=', currency)
    if (since !== null) query = query.where('paid_at', '>=', since.toISOString())
    const row = (await runner.first(query))!
    return { gross: row.gross, refunded: row.gross - row.net, net: row.net, sales: row.sales }
  }

  return {
    async dashboard (now = new Date()): Promise<Dashboard> {
      const monthStart = dayStart(now, 29)
      const byDay = new Map((await runner.all(db.selectFrom('orders')
        .select([sql<string>`substr(paid_at, 1, 10)`.as('day'), sql<number>`sum(${paidSql()} - orders.tax_cents)`.as('amount'), sql<number>`count(*)`.as('sales')])
        .where('paid_at', '>=', monthStart.toISOString()).where('currency', '=', currency)
        .groupBy(sql`substr(paid_at, 1, 10)`))).map((row) => [row.day, row]))
      const daily = Array.from({ length: 30 }, (_, i) => {
        const day = new Date(monthStart.getTime() + i * DAY_MS).toISOString().slice(0, 10)
        const found = byDay.get(day)
        return { day, amount: found?.amount ?? 0, sales: found?.sales ?? 0 }
      })
      const items = await runner.all(db.selectFrom('orders').innerJoin('content', 'content.id', 'orders.content_id')
        .select(['content.slug', 'content.title', saleFigures.sales(), saleFigures.refunds(), saleFigures.net()])
        .where('orders.paid_at', 'is not', null).where('orders.currency', '=', currency)
        .groupBy('content.id').orderBy('net', 'desc').orderBy('sales', 'desc').orderBy('content.id').limit(20))
      return {
        currency,
        windows: { week: await revenue(dayStart(now, 6)), month: await revenue(monthStart), all: await revenue(null) },
        daily,
        items,
        latest: await slice({}, 8),
        tax: await taxReport.quarters(now)
      }
    },

    /** Buyers (users with at least one order), the latest purchase first. */
    async customers (page: number): Promise<CustomersPage> {
      const total = (await runner.first(db.selectFrom('orders').select(sql<number>`count(distinct user_id)`.as('n'))))!.n
      const pages = Math.max(1, Math.ceil(total / CUSTOMERS_PAGE_SIZE))
      const current = Math.min(Math.max(1, page), pages)
      const customers = await runner.all(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
        .select([
          'users.id', 'users.email', 'users.name',
          sql<number>`count(*)`.as('orders'),
          sql<number>`sum(case when orders.status = 'paid' then 1 else 0 end)`.as('paid_orders'),
          // Net of refunds: a refunded order adds nothing, a partly refunded one what it kept.
          sql<number>`coalesce(sum(case when orders.status = 'paid' and orders.currency = ${currency} then ${paidSql()} - orders.refunded_cents else 0 end), 0)`.as('spent'),
          sql<string | null>`min(orders.paid_at)`.as('first_purchase'),
          sql<string | null>`max(orders.paid_at)`.as('last_purchase')
        ])
        .groupBy('users.id')
        .orderBy(sql`max(orders.paid_at) is null`).orderBy('last_purchase', 'desc').orderBy('users.id', 'desc')
        .limit(CUSTOMERS_PAGE_SIZE).offset((current - 1) * CUSTOMERS_PAGE_SIZE))
      return { customers, page: current, pages, total }
    }
  }
}

/** The creator's view of the money: revenue, the order list and pages, customers, the CSV export. */
export function createSales (deps: Deps) {
  const { slice, ...list } = createOrderList(deps)
  const taxReport = createTaxReport(deps)
  return { currency: deps.currency, ...createFigures(deps, slice, taxReport), ...list, taxCsv: taxReport.csv }
}

export type Sales = ReturnType<typeof createSales>
