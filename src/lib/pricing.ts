import type { Content } from '../db/types.js'
import { decimals, formatAmount, howToType, maxPrice, minimumCharge, parseAmount, parsePrice } from './money.js'

type Priced = Pick<Content, 'price_cents' | 'currency' | 'pay_what_you_want' | 'min_price_cents'>

/**
 * Free for every signed-in reader: a price of 0, or pay what you want from 0 (a tip is welcome,
 * nothing is owed).
 */
export function isFree (content: Priced): boolean {
  return content.pay_what_you_want === 1 ? content.min_price_cents === 0 : content.price_cents === 0
}

export type ChosenAmount = { amount: number, problem?: undefined } | { amount?: undefined, problem: string }

/**
 * The amount a buyer typed for a pay-what-you-want item, in minor units: at least the item's
 * minimum, in the currency's decimals, a charge the payment provider takes (its minimum, our
 * maximum). 0 is allowed when the minimum is 0 (the item is then free, no checkout).
 */
export function chosenAmount (content: Priced, input: string | undefined): ChosenAmount {
  const { currency } = content
  const minimum = content.min_price_cents
  const floor = formatAmount(Math.max(minimum, minimum === 0 ? 0 : minimumCharge(currency)), currency)
  if (input === undefined || input.trim() === '') return { problem: `Type the amount you want to pay: ${floor} or more.` }
  const typed = parseAmount(input, currency)
  if (typed === undefined) {
    const places = decimals(currency)
    return { problem: `Type the amount as a number${places === 0 ? ' without decimals' : ` with at most ${places} decimals`}, ${howToType(currency, Math.max(minimum, minimumCharge(currency)))}.` }
  }
  if (typed < minimum) return { problem: `The least you can pay for this is ${floor}.` }
  if (typed > maxPrice(currency)) return { problem: `That is more than we can charge at once: at most ${formatAmount(maxPrice(currency), currency)}.` }
  if (typed === 0) return { amount: 0 }
  if (typed < minimumCharge(currency)) {
    return { problem: `Card payments start at ${formatAmount(minimumCharge(currency), currency)}${minimum === 0 ? '; or type 0 to take it for free' : ''}.` }
  }
  const amount = parsePrice(input, currency)
  if (amount === undefined) return { problem: `That amount cannot be charged in ${currency.toUpperCase()}; round it, like ${formatAmount(Math.max(minimum, minimumCharge(currency)), currency)}.` }
  return { amount }
}
