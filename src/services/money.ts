/** Prices are integer cents in our database and in Stripe; these convert at the edges. */

const formatters = new Map<string, Intl.NumberFormat>()

export function formatPrice (cents: number, currency: string): string {
  if (cents === 0) return 'Free'
  let format = formatters.get(currency)
  if (format === undefined) {
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() })
    formatters.set(currency, format)
  }
  return format.format(cents / 100)
}

export const MAX_PRICE_CENTS = 10_000 * 100

/** Parses "5", "5.5" or "5.50" into 550 without floating point; undefined when not a valid price. */
export function parsePrice (input: string): number | undefined {
  const match = /^(\d{1,5})(?:\.(\d{1,2}))?$/.exec(input.trim())
  if (match === null) return undefined
  const cents = Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'))
  return cents <= MAX_PRICE_CENTS ? cents : undefined
}
