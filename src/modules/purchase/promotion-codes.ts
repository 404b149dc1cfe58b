import type { SelectQueryBuilder } from 'kysely'
import type { Content, Database } from '../../db/types.js'
import type { SessionFacts } from './providers/contract.js'

/**
 * Promotion codes (Stripe's; Mollie has none): the rules about them in one place. A checkout
 * offers the code field when the store allows codes, never for a pay-what-you-want item; at the
 * grant, the discount a code took must agree with the order (fulfil.ts's amount check) and must
 * not take a pay-what-you-want item below its minimum (then the order is held for review).
 */

/**
 * Whether the checkout for this item lets the buyer type a promotion code: a code would take a
 * pay-what-you-want item below the minimum the buyer was held to.
 */
export function promotionCodesAllowed (content: Pick<Content, 'pay_what_you_want'>, storeAllows: boolean): boolean {
  return content.pay_what_you_want !== 1 && storeAllows
}

/** A pay-what-you-want item's minimum; no row for an item with a fixed price. */
export const minimumOf = (item: SelectQueryBuilder<Database, 'content', object>) => item.select('content.min_price_cents').where('content.pay_what_you_want', '=', 1)

/**
 * A discount took the paid amount below the item's pay-what-you-want minimum (null: a fixed
 * price, no minimum): the amount before any tax added on top, less the discount. A code applied
 * some other way than our checkout offers it still grants nothing.
 */
export function belowMinimum (minimum: number | null, session: SessionFacts): boolean {
  const beforeTax = (session.amountSubtotal ?? session.amountTotal ?? 0) - (session.amountDiscount ?? 0)
  return minimum !== null && beforeTax < minimum
}
