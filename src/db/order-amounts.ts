import { type RawBuilder, sql } from 'kysely'
import type { Order } from './types.js'

/**
 * What an order's money is, in one place for every module that sums or shows it (the desk, the
 * library, receipts, the customers list, refunds): the buyer paid the order's amount less a
 * promotion's discount, plus the tax when it was added on top (exclusive); the seller's revenue
 * is that less the tax, which is the tax authority's money, not the creator's.
 */

type Amounts = Pick<Order, 'amount_cents' | 'discount_cents' | 'tax_cents' | 'tax_behavior'>

/** What the buyer paid (or is to pay) for the order, tax included. */
export const paidOf = (order: Amounts): number =>
  order.amount_cents - order.discount_cents + (order.tax_behavior === 'exclusive' ? order.tax_cents : 0)

/** What of the payment is the seller's: paid less the tax in it. */
export const netOf = (order: Amounts): number => paidOf(order) - order.tax_cents

/**
 * The tax still owed on what the buyer kept paid after refunds: a refund returns the tax in
 * proportion to the amount (a full refund, all of it).
 */
export const keptTaxOf = (order: Amounts & Pick<Order, 'refunded_cents'>): number => {
  const paid = paidOf(order)
  // Rounded half up in integers, as keptNetSql() computes it.
  return paid <= 0 ? 0 : Math.floor((order.tax_cents * Math.max(paid - order.refunded_cents, 0) + Math.floor(paid / 2)) / paid)
}

/** paidOf in SQL, for a query whose orders table is `orders`. */
export const paidSql = (): RawBuilder<number> =>
  sql<number>`(orders.amount_cents - orders.discount_cents + case when orders.tax_behavior = 'exclusive' then orders.tax_cents else 0 end)`

/**
 * The seller's revenue an order keeps after its refunds, in SQL: what was paid less what went
 * back, less the tax on what stayed (refunds take their share of the tax back with them).
 * Integer arithmetic on both engines; a refund-free order keeps exactly paid - tax.
 */
export const keptNetSql = (): RawBuilder<number> => sql<number>`(${paidSql()} - orders.refunded_cents - ${keptTaxSql()})`

/** keptTaxOf in SQL: the tax on what stayed paid after refunds, rounded half up in integers. */
export const keptTaxSql = (): RawBuilder<number> => {
  const paid = paidSql()
  return sql<number>`(case when ${paid} <= 0 then 0 else (orders.tax_cents * (${paid} - orders.refunded_cents) + ${paid} / 2) / ${paid} end)`
}

export interface TaxId { type: string, value: string }

/** The buyer's tax ids as the order keeps them (buyer_tax_ids); [] when none or unreadable. */
export function taxIdsOf (stored: string | null): TaxId[] {
  if (stored === null || stored === '') return []
  try {
    const parsed: unknown = JSON.parse(stored)
    if (!Array.isArray(parsed)) return []
    return parsed.filter((id): id is TaxId => typeof id === 'object' && id !== null && typeof id.type === 'string' && typeof id.value === 'string')
  } catch {
    return []
  }
}

/** The tax ids as the order keeps them; null when there are none. */
export const storedTaxIds = (ids: readonly TaxId[] | undefined): string | null =>
  ids === undefined || ids.length === 0 ? null : JSON.stringify(ids.map(({ type, value }) => ({ type, value })))
