import { netOf, taxIdsOf } from '../db/order-amounts.js'
import type { TaxBehavior } from '../db/types.js'
import { formatAmount } from '../lib/money.js'

/** What the money lines need of an order: paid_cents is what the buyer paid, tax included (paidSql). */
export interface PaidOrder {
  paid_cents: number
  currency: string
  tax_cents: number
  tax_behavior: TaxBehavior | null
  buyer_country: string | null
  buyer_tax_ids: string | null
}

/** The money lines of a receipt or thank-you page: net, tax and total when tax was computed, the buyer's tax ids. */
export interface ReceiptMoney {
  /** Tax was computed for the order (Stripe Tax): the receipt shows net, tax and total. */
  taxed: boolean
  net: string
  tax: string
  total: string
  /** The buyer gave a tax id and paid no tax: the EU's reverse charge (the buyer accounts for it). */
  reverseCharge: boolean
  country: string | null
  buyerTaxIds: string[]
}

const countryNames = new Intl.DisplayNames(['en'], { type: 'region' })

/** A country's English name from its code ('DE' -> 'Germany'); the code when it has none. */
export function countryName (code: string | null): string | null {
  if (code === null) return null
  try {
    return countryNames.of(code) ?? code
  } catch {
    return code
  }
}

export function receiptMoney (order: PaidOrder): ReceiptMoney {
  const amounts = { amount_cents: order.paid_cents, discount_cents: 0, tax_cents: order.tax_cents, tax_behavior: null }
  const buyerTaxIds = taxIdsOf(order.buyer_tax_ids).map((id) => id.value)
  return {
    taxed: order.tax_behavior !== null || order.tax_cents > 0,
    // paid_cents is already what was paid, tax included: net is it less the tax.
    net: formatAmount(netOf(amounts), order.currency),
    tax: formatAmount(order.tax_cents, order.currency),
    total: formatAmount(order.paid_cents, order.currency),
    reverseCharge: order.tax_behavior !== null && order.tax_cents === 0 && buyerTaxIds.length > 0,
    country: countryName(order.buyer_country),
    buyerTaxIds
  }
}
