import type { OrderLine } from '../../db/types.js'

/** What one line carries of the order's discount and tax. */
export interface LineShare { line: number, discountCents: number, taxCents: number }

/**
 * Splits `total` over `weights` in proportion, in whole minor units: each share rounded down,
 * the last taking what rounding left, so the shares always add up to the total.
 */
function split (total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0)
  const shares = weights.map((w) => sum > 0 ? Math.floor(total * w / sum) : 0)
  if (shares.length > 0) shares[shares.length - 1]! += total - shares.reduce((a, b) => a + b, 0)
  return shares
}

/**
 * Each line's share of the order's discount (in proportion to the lines' amounts) and tax (in
 * proportion to what each line costs after its discount), as Stripe spreads them over line
 * items; computed here rather than read back from Stripe, which would cost the grant an extra
 * call (GET .../line_items) inside its transaction. A one-line order's line carries all of both.
 */
export function lineShares (lines: Array<Pick<OrderLine, 'line' | 'amount_cents'>>, discountCents: number, taxCents: number): LineShare[] {
  const discounts = split(discountCents, lines.map((l) => l.amount_cents))
  const taxes = split(taxCents, lines.map((l, i) => Math.max(0, l.amount_cents - discounts[i]!)))
  return lines.map((l, i) => ({ line: l.line, discountCents: discounts[i]!, taxCents: taxes[i]! }))
}
