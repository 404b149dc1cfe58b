import { type Kysely, sql } from 'kysely'
import { keptNetSql, keptTaxSql, paidSql, taxIdsOf } from '../../db/order-amounts.js'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import { csvLine } from '../../lib/csv.js'
import { toDecimal } from '../../lib/money.js'

/** The tax report's header, exactly as the contract says (DESIGN.md "Tax and invoices"). */
export const TAX_CSV_HEADER = ['order_id', 'paid_at', 'country', 'buyer_tax_id', 'currency', 'net', 'tax', 'total', 'refunded'] as const
const BATCH = 500
const DAY_MS = 24 * 60 * 60 * 1000

/** A day range of the report, both ends included (UTC days); either end may be open. */
export interface TaxPeriod { from?: string, to?: string }

/** The tax collected in one country in one quarter, net of refunds (the store's currency). */
export interface TaxQuarter {
  /** e.g. 2026-Q4 */
  quarter: string
  /** ISO 3166-1 alpha-2; null when no address was collected (no automatic tax). */
  country: string | null
  sales: number
  net: number
  tax: number
}

/** A YYYY-MM-DD that is a real day; undefined otherwise. */
export function parseDay (value: string | undefined): Date | undefined {
  if (value === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined
  const day = new Date(`${value}T00:00:00.000Z`)
  return Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== value ? undefined : day
}

/** When an order counts for tax: when it was paid (a payment refunded before the grant: when it was made). */
const taxDay = sql<string>`coalesce(orders.paid_at, orders.created_at)`

/**
 * The tax side of the desk: the report an EU OSS (or any sales tax) return is filled from, one
 * row per paid or refunded order, and the dashboard's tax per country per quarter.
 */
export function createTaxReport ({ db, runner, currency }: { db: Kysely<Database>, runner: Runner, currency: string }) {
  /** Paid or refunded orders in the period, oldest first, a batch at a time by keyset. */
  function page (period: TaxPeriod, after: { at: string, id: string } | undefined) {
    let query = db.selectFrom('orders')
      .select([
        'orders.id', sql<string>`${taxDay}`.as('at'), 'orders.paid_at', 'orders.buyer_country', 'orders.buyer_tax_ids', 'orders.currency',
        'orders.tax_cents', paidSql().as('paid_cents'), 'orders.refunded_cents'
      ])
      .where('orders.status', 'in', ['paid', 'refunded'])
    if (period.from !== undefined) query = query.where(taxDay, '>=', period.from)
    if (period.to !== undefined) query = query.where(taxDay, '<', period.to)
    if (after !== undefined) query = query.where((eb) => eb.or([eb(taxDay, '>', after.at), eb.and([eb(taxDay, '=', after.at), eb('orders.id', '>', after.id)])]))
    return query.orderBy(taxDay).orderBy('orders.id').limit(BATCH)
  }

  return {
    /**
     * The report as CSV, a batch at a time (never the whole table in memory). `from` and `to`
     * are days (YYYY-MM-DD), both included. Amounts are decimal strings in the order's
     * currency: net + tax = total (what the buyer paid); refunded is what went back of it.
     */
    async * csv (range: { from?: Date, to?: Date } = {}): AsyncGenerator<string> {
      yield csvLine(TAX_CSV_HEADER)
      const period: TaxPeriod = {
        ...(range.from === undefined ? {} : { from: range.from.toISOString() }),
        ...(range.to === undefined ? {} : { to: new Date(range.to.getTime() + DAY_MS).toISOString() })
      }
      let after: { at: string, id: string } | undefined
      for (;;) {
        const rows = await runner.all(page(period, after))
        if (rows.length === 0) return
        yield rows.map((row) => csvLine([
          row.id, row.paid_at, row.buyer_country, taxIdsOf(row.buyer_tax_ids).map((id) => id.value).join(' '), row.currency,
          toDecimal(row.paid_cents - row.tax_cents, row.currency), toDecimal(row.tax_cents, row.currency),
          toDecimal(row.paid_cents, row.currency), toDecimal(row.refunded_cents, row.currency)
        ])).join('')
        if (rows.length < BATCH) return
        const last = rows[rows.length - 1]!
        after = { at: last.at, id: last.id }
        await new Promise((resolve) => setImmediate(resolve))
      }
    },

    /**
     * The tax kept (after refunds) per country per quarter, from the start of the quarter
     * `quarters - 1` quarters before now's, newest quarter first, biggest tax first.
     */
    async quarters (now = new Date(), quarters = 4): Promise<TaxQuarter[]> {
      const startMonth = Math.floor(now.getUTCMonth() / 3) * 3 - (quarters - 1) * 3
      const since = new Date(Date.UTC(now.getUTCFullYear(), startMonth, 1)).toISOString()
      const quarter = sql<string>`substr(orders.paid_at, 1, 4) || '-Q' || cast((cast(substr(orders.paid_at, 6, 2) as integer) + 2) / 3 as text)`
      const rows = await runner.all(db.selectFrom('orders')
        .select([
          quarter.as('quarter'), 'orders.buyer_country as country',
          sql<number>`count(*)`.as('sales'), sql<number>`coalesce(sum(${keptNetSql()}), 0)`.as('net'), sql<number>`coalesce(sum(${keptTaxSql()}), 0)`.as('tax')
        ])
        .where('orders.paid_at', '>=', since).where('orders.currency', '=', currency)
        .where('orders.status', 'in', ['paid', 'refunded'])
        .groupBy([quarter, 'orders.buyer_country']))
      return rows
        .map((row) => ({ ...row, sales: Number(row.sales), net: Number(row.net), tax: Number(row.tax) }))
        .sort((a, b) => b.quarter.localeCompare(a.quarter) || b.tax - a.tax || (a.country ?? '').localeCompare(b.country ?? ''))
    }
  }
}

export type TaxReport = ReturnType<typeof createTaxReport>
