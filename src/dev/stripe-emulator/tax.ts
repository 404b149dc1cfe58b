// Stripe Tax as the emulator models it: a small rate table by the buyer's country (a standard
// rate and an e-book rate), the tax ids a buyer may give, reverse charge for EU businesses, and
// the arithmetic that spreads a discount over the lines and computes each line's tax. Amounts are
// integers in minor units and rates are basis points, so every rounding is exact.

/** Stripe's tax code for e-books (digital books delivered electronically). */
export const EBOOK_TAX_CODE = 'txcd_10302000'

export type TaxBehavior = 'exclusive' | 'inclusive' | 'unspecified'

/** Standard and e-book rates in basis points (19% = 1900), with the country's name. */
const RATES: Record<string, { name: string, standard: number, ebook: number }> = {
  AT: { name: 'Austria', standard: 2000, ebook: 1000 },
  AU: { name: 'Australia', standard: 1000, ebook: 1000 },
  BE: { name: 'Belgium', standard: 2100, ebook: 600 },
  CA: { name: 'Canada', standard: 500, ebook: 500 },
  CH: { name: 'Switzerland', standard: 810, ebook: 260 },
  DE: { name: 'Germany', standard: 1900, ebook: 700 },
  ES: { name: 'Spain', standard: 2100, ebook: 400 },
  FR: { name: 'France', standard: 2000, ebook: 550 },
  GB: { name: 'United Kingdom', standard: 2000, ebook: 0 },
  IE: { name: 'Ireland', standard: 2300, ebook: 0 },
  IT: { name: 'Italy', standard: 2200, ebook: 400 },
  NL: { name: 'Netherlands', standard: 2100, ebook: 900 },
  NO: { name: 'Norway', standard: 2500, ebook: 0 },
  PL: { name: 'Poland', standard: 2300, ebook: 500 },
  SE: { name: 'Sweden', standard: 2500, ebook: 600 },
  US: { name: 'United States', standard: 0, ebook: 0 }
}

/** Countries a buyer may pick beyond the rate table: no tax is collected there. */
const OTHER_COUNTRIES: Record<string, string> = Object.fromEntries([
  'BR Brazil', 'CZ Czechia', 'DK Denmark', 'FI Finland', 'GR Greece', 'IN India', 'JP Japan', 'LU Luxembourg',
  'MX Mexico', 'NZ New Zealand', 'PT Portugal', 'SG Singapore', 'ZA South Africa'
].map((entry) => [entry.slice(0, 2), entry.slice(3)]))

/** EU member states with their VAT number prefix (the country code; Greece writes EL). */
const EU_VAT_PREFIX: Record<string, string> = Object.fromEntries(
  'AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK'.split(' ').map((c) => [c, c === 'GR' ? 'EL' : c])
)

export const isEuCountry = (country: string): boolean => country in EU_VAT_PREFIX

/** The countries the checkout page offers, sorted by name. */
export function countryOptions (): Array<{ code: string, name: string }> {
  const all = { ...OTHER_COUNTRIES, ...Object.fromEntries(Object.entries(RATES).map(([code, r]) => [code, r.name])) }
  return Object.entries(all).map(([code, name]) => ({ code, name })).sort((a, b) => a.name.localeCompare(b.name))
}

export const isKnownCountry = (country: string): boolean => country in RATES || country in OTHER_COUNTRIES

export function countryName (country: string): string {
  return RATES[country]?.name ?? OTHER_COUNTRIES[country] ?? country
}

/** What the tax is called where the buyer is. */
export function taxName (country: string): string {
  if (country === 'AU' || country === 'CA' || country === 'NZ') return 'GST'
  if (country === 'US') return 'Sales tax'
  return RATES[country] === undefined ? 'Tax' : 'VAT'
}

/** The rate in basis points for a line with this tax code, bought from this country. */
export function rateFor (country: string, taxCode: string | null): number {
  const rates = RATES[country]
  if (rates === undefined) return 0
  return taxCode === EBOOK_TAX_CODE ? rates.ebook : rates.standard
}

/** A rate in basis points as people write it: 1900 -> "19%", 550 -> "5.5%". */
export const formatRate = (bp: number): string => `${bp / 100}%`

export interface TaxId { type: 'eu_vat' | 'gb_vat' | 'ch_vat' | 'no_vat' | 'au_abn', value: string }

/**
 * A tax id typed by a buyer from this country, normalised (upper case, no spaces or dots), or the
 * reason it is refused.
 */
export function parseTaxId (country: string, input: string): { ok: true, taxId: TaxId } | { ok: false, message: string } {
  const value = input.toUpperCase().replace(/[\s.]/g, '')
  const prefix = EU_VAT_PREFIX[country]
  if (prefix !== undefined) {
    return new RegExp(`^${prefix}[A-Z0-9]{2,13}$`).test(value)
      ? { ok: true, taxId: { type: 'eu_vat', value } }
      : { ok: false, message: `A VAT number from ${countryName(country)} starts with ${prefix} followed by 2 to 13 letters or digits.` }
  }
  const formats: Record<string, { type: TaxId['type'], pattern: RegExp, hint: string }> = {
    GB: { type: 'gb_vat', pattern: /^GB(\d{9}|\d{12})$/, hint: 'GB followed by 9 or 12 digits' },
    CH: { type: 'ch_vat', pattern: /^CHE-?\d{9}(MWST|TVA|IVA)?$/, hint: 'CHE-123.456.789 MWST' },
    NO: { type: 'no_vat', pattern: /^\d{9}MVA$/, hint: '9 digits followed by MVA' },
    AU: { type: 'au_abn', pattern: /^\d{11}$/, hint: 'an ABN of 11 digits' }
  }
  const format = formats[country]
  if (format === undefined) return { ok: false, message: `Tax ids from ${countryName(country)} are not accepted here.` }
  return format.pattern.test(value)
    ? { ok: true, taxId: { type: format.type, value } }
    : { ok: false, message: `A tax id from ${countryName(country)} is written ${format.hint}.` }
}

/** n / d rounded half away from zero, for non-negative integers. */
function divideRounded (n: number, d: number): number {
  return Math.floor((2 * n + d) / (2 * d))
}

/** One line as the tax calculation sees it. */
export interface TaxLine { amount: number, taxBehavior: TaxBehavior | null, taxCode: string | null }

export interface LineTotals { discount: number, tax: number, total: number, rate: number }

/** Where the buyer is and whether they owe the tax; null when no location is known yet. */
export interface TaxContext { country: string, reverseCharge: boolean }

/**
 * Each line's share of the discount (in proportion to its amount, the last line taking the
 * rounding remainder), its tax (none without a context or under reverse charge) and its total:
 * exclusive tax is added, inclusive tax is already in the amount.
 */
export function lineTotals (lines: TaxLine[], discount: number, context: TaxContext | null): LineTotals[] {
  const subtotal = lines.reduce((sum, line) => sum + line.amount, 0)
  let spread = 0
  return lines.map((line, index) => {
    const share = index === lines.length - 1 || subtotal === 0
      ? (index === lines.length - 1 ? discount - spread : 0)
      : Math.min(divideRounded(discount * line.amount, subtotal), discount - spread)
    spread += share
    const taxable = Math.max(0, line.amount - share)
    const rate = context === null || context.reverseCharge ? 0 : rateFor(context.country, line.taxCode)
    const tax = line.taxBehavior === 'inclusive' ? divideRounded(taxable * rate, 10000 + rate) : divideRounded(taxable * rate, 10000)
    return { discount: share, tax, total: taxable + (line.taxBehavior === 'inclusive' ? 0 : tax), rate }
  })
}

/** Reverse charge: an EU business, in an EU country other than the seller's, with an EU VAT id. */
export function isReverseCharge (country: string, taxId: TaxId | null, originCountry: string): boolean {
  return taxId?.type === 'eu_vat' && isEuCountry(country) && country !== originCountry
}
