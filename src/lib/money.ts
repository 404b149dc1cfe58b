/**
 * Money is an integer in the currency's minor units, exactly as Stripe's API takes it: cents for
 * USD, yen for JPY, fils for KWD. This is the one module that knows a currency's exponent; the app
 * and the Stripe emulator (src/dev) both convert through it, and no other code multiplies or
 * divides an amount. Parsing and formatting go through decimal strings, never floating point.
 *
 * Source of the lists: Stripe's "Supported currencies" page (docs.stripe.com/currencies):
 * presentment currencies, zero- and three-decimal currencies, special cases, minimum charges.
 */

// Stripe's zero-decimal list, minus UGX (see WHOLE_IN_CENTS).
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'])

// Stripe takes these with three decimals, but only amounts whose last digit is 0 (its card
// partners settle in hundredths), so a price moves in steps of 0.010.
const THREE_DECIMAL = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd'])

// Stripe's "special cases": ISK and UGX are whole-number currencies, but for backwards
// compatibility Stripe wants them as two-decimal amounts that are multiples of 100 (5 ISK = 500)
// and refuses anything else. HUF and TWD need nothing here: Stripe charges them with two
// decimals and treats them as whole numbers only for payouts.
const WHOLE_IN_CENTS = new Set(['isk', 'ugx'])

// Stripe's presentment currencies with two decimals (the list for a US account, 2026).
const TWO_DECIMAL = ('usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd ' +
  'cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd hnl htg huf ' +
  'idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt mop mur mvr mwk mxn myr ' +
  'mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd ' +
  'std szl thb tjs top try ttd twd tzs uah ugx uyu uzs wst xcd xcg yer zar zmw').split(' ')

/**
 * Every currency Stripe can charge in, lower case. The three-decimal ones are presentment
 * currencies for accounts in some countries (the UAE among them), not for a US account.
 */
export const STRIPE_CURRENCIES: readonly string[] = [...TWO_DECIMAL, ...ZERO_DECIMAL, ...THREE_DECIMAL].sort()
const SUPPORTED = new Set(STRIPE_CURRENCIES)

export function isSupportedCurrency (currency: string): boolean {
  return SUPPORTED.has(currency.toLowerCase())
}

// Mollie's currencies whose decimals agree with the table here (its list, minus ISK, HUF and
// TWD, which it writes differently from Stripe): amounts go to Mollie as decimal strings.
const MOLLIE = new Set(('aed aud bgn brl cad chf czk dkk eur gbp hkd ils jpy mxn myr nok nzd php pln ron sek sgd thb usd zar').split(' '))

export function isMollieCurrency (currency: string): boolean {
  return MOLLIE.has(currency.toLowerCase())
}

/** The exponent of Stripe's amounts: 2 for USD (and ISK, UGX), 0 for JPY, 3 for KWD. */
export function minorUnits (currency: string): number {
  const code = currency.toLowerCase()
  return ZERO_DECIMAL.has(code) ? 0 : THREE_DECIMAL.has(code) ? 3 : 2
}

/** How many decimals a price is written and shown with: as minorUnits, but ISK and UGX are whole. */
export function decimals (currency: string): number {
  return WHOLE_IN_CENTS.has(currency.toLowerCase()) ? 0 : minorUnits(currency)
}

/** The smallest difference between two chargeable amounts, in minor units. */
function step (currency: string): number {
  if (THREE_DECIMAL.has(currency.toLowerCase())) return 10
  return 10 ** (minorUnits(currency) - decimals(currency))
}

// Stripe's limit: an amount has at most eight digits ($999,999.99).
const STRIPE_MAX_AMOUNT = 99_999_999

/**
 * The highest price, in minor units, against typing a digit too many. Currencies written with
 * decimals: 10,000 units (USD, EUR, GBP, KWD), or more where Stripe's minimum charge shows the
 * unit is worth less (the minimum is about $0.50 everywhere, so the cap is 20,000 minimums:
 * 300,000 CZK, 3,500,000 HUF before the limit below). Whole-number currencies: 10,000,000
 * (¥10,000,000 is about $65,000). Never past Stripe's eight digits (999,999 for ISK and UGX).
 */
export function maxPrice (currency: string): number {
  const cap = decimals(currency) === 0
    ? 10_000_000 * step(currency)
    : Math.max(10_000 * 10 ** minorUnits(currency), 20_000 * minimumCharge(currency))
  return Math.min(cap, STRIPE_MAX_AMOUNT - STRIPE_MAX_AMOUNT % step(currency))
}

// Stripe's documented minimum charge amounts, in minor units.
const MINIMUM_CHARGE: Record<string, number> = {
  usd: 50,
  aed: 200,
  aud: 50,
  bgn: 100,
  brl: 50,
  cad: 50,
  chf: 50,
  czk: 1500,
  dkk: 250,
  eur: 50,
  gbp: 30,
  hkd: 400,
  huf: 17500,
  inr: 50,
  jpy: 50,
  mxn: 1000,
  myr: 200,
  nok: 300,
  nzd: 50,
  pln: 200,
  ron: 200,
  sek: 300,
  sgd: 50,
  thb: 1000
}

/**
 * The lowest paid price Stripe accepts, in minor units. Stripe lists minimums only for the
 * currencies above; any other must convert to about $0.50 at the day's rate, which we cannot know.
 * Fallback: half a unit for currencies written with decimals (0.50, like USD and EUR) and 50
 * for whole-number ones (like JPY). Where that is still too little, Stripe refuses the checkout.
 */
export function minimumCharge (currency: string): number {
  const listed = MINIMUM_CHARGE[currency.toLowerCase()]
  if (listed !== undefined) return listed
  return decimals(currency) === 0 ? 50 * step(currency) : 10 ** minorUnits(currency) / 2
}

/**
 * Reads a decimal string ("5", "5.5", "5.50") as minor units, with at most the currency's
 * decimals and no sign; undefined otherwise. No floating point: the digits are joined as text.
 */
export function parseAmount (input: string, currency: string): number | undefined {
  const match = /^(\d{1,12})(?:\.(\d+))?$/.exec(input.trim())
  if (match === null) return undefined
  const fraction = match[2] ?? ''
  if (fraction.length > decimals(currency)) return undefined
  return Number(match[1]! + fraction.padEnd(minorUnits(currency), '0'))
}

/** A price as typed by an admin, in minor units; undefined unless Stripe could charge it and it is at most maxPrice. */
export function parsePrice (input: string, currency: string): number | undefined {
  const amount = parseAmount(input, currency)
  if (amount === undefined || amount % step(currency) !== 0 || amount > maxPrice(currency)) return undefined
  return amount
}

/** Minor units as a plain decimal string: 750 USD is "7.50", 500 JPY "500", 1250 KWD "1.250", 50000 ISK "500". */
export function toDecimal (amount: number, currency: string): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`an amount must be a whole number of minor units, got ${amount}`)
  const exponent = minorUnits(currency)
  const digits = String(Math.abs(amount)).padStart(exponent + 1, '0')
  const whole = digits.slice(0, digits.length - exponent)
  const fraction = digits.slice(digits.length - exponent)
  const shown = decimals(currency)
  // ISK and UGX drop their two zero decimals; any other digit is kept, so nothing is ever hidden.
  const kept = fraction.slice(0, shown) + fraction.slice(shown).replace(/0+$/, '')
  return (amount < 0 ? '-' : '') + whole + (kept === '' ? '' : '.' + kept)
}

const formatters = new Map<string, Intl.NumberFormat>()

/** An amount with its currency, as a person reads it: "$7.50", "¥500", "KWD 1.250". */
export function formatAmount (amount: number, currency: string): string {
  const code = currency.toUpperCase()
  let format = formatters.get(code)
  if (format === undefined) {
    const digits = decimals(code)
    format = new Intl.NumberFormat('en-US', { style: 'currency', currency: code, minimumFractionDigits: digits, maximumFractionDigits: minorUnits(code) })
    formatters.set(code, format)
  }
  // Intl formats a decimal string exactly (Intl.NumberFormat v3), with no trip through a float.
  return format.format(toDecimal(amount, code) as Intl.StringNumericLiteral)
}

/** A price for the catalogue: "Free" for 0, else formatAmount. */
export function formatPrice (amount: number, currency: string): string {
  return amount === 0 ? 'Free' : formatAmount(amount, currency)
}

/**
 * How an amount is typed into a form, for a message about one that could not be read: people
 * type `4,99` or `$5`, which parseAmount refuses (a comma may be a decimal or a thousands
 * separator), so the message says what to type instead, with an example (`example` in minor units).
 */
export function howToType (currency: string, example: number): string {
  return decimals(currency) === 0
    ? `in digits only, with no currency sign or commas, like ${toDecimal(example, currency)}`
    : `with a dot, not a comma, and no currency sign, like ${toDecimal(example, currency)}`
}

/** What a price problem says, in the currency's own terms. */
export function priceRule (currency: string): string {
  const code = currency.toUpperCase()
  const max = new Intl.NumberFormat('en-US', { maximumFractionDigits: 3 }).format(toDecimal(maxPrice(code), code) as Intl.StringNumericLiteral)
  const places = decimals(code)
  const example = places === 0 ? 500 * step(code) : 499 * 10 ** (minorUnits(code) - 2)
  const typing = `Type it ${howToType(code, example)}.`
  if (places === 0) return `The price must be a whole number from 0 to ${max} ${code} (0 means free). ${typing}`
  const last = THREE_DECIMAL.has(currency.toLowerCase()) ? ', the third of them 0' : ''
  return `The price must be a number from 0 to ${max} ${code} with at most ${places === 3 ? 'three' : 'two'} decimals${last} (0 means free). ${typing}`
}

/** What the price field of a form needs to fit the currency. */
export function priceInput (currency: string): { code: string, pattern: string, placeholder: string, inputMode: 'numeric' | 'decimal', hint: string } {
  const places = decimals(currency)
  const fraction = places === 0 ? '' : THREE_DECIMAL.has(currency.toLowerCase()) ? '(\\.\\d{1,2}0?)?' : `(\\.\\d{1,${places}})?`
  return {
    code: currency.toUpperCase(),
    pattern: `\\d+${fraction}`,
    placeholder: places === 0 ? '500' : `5.${'0'.repeat(places)}`,
    inputMode: places === 0 ? 'numeric' : 'decimal',
    hint: `0 means free; otherwise from ${formatAmount(minimumCharge(currency), currency)} to ${formatAmount(maxPrice(currency), currency)}.`
  }
}

/** An exchange rate as typed (`0.92`): units of the new currency for one unit of the old, as a fraction. */
export interface Rate { numerator: bigint, denominator: bigint }

/** Reads a rate: a decimal number above 0 (`150`, `0.92`, `1.0845`); undefined otherwise. */
export function parseRate (input: string): Rate | undefined {
  const match = /^(\d{1,12})(?:\.(\d{1,12}))?$/.exec(input.trim())
  if (match === null) return undefined
  const fraction = match[2] ?? ''
  const numerator = BigInt(match[1]! + fraction)
  if (numerator === 0n) return undefined
  return { numerator, denominator: 10n ** BigInt(fraction.length) }
}

/**
 * A price in `from`'s minor units converted at `rate` into `to`'s minor units (so $5.00 at 150 is
 * ¥750, ¥750 at 0.0067 is $5.03), rounded half up to an amount Stripe can charge in `to`. Free
 * stays free; a paid price never falls below the minimum charge. It may come out above maxPrice:
 * the caller decides. Exact: the amount and the rate are whole numbers over powers of ten.
 */
export function convertPrice (amount: number, from: string, to: string, rate: Rate): number {
  if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError(`a price must be a whole number of minor units, got ${amount}`)
  if (amount === 0) return 0
  const unit = BigInt(step(to))
  const numerator = BigInt(amount) * rate.numerator * 10n ** BigInt(minorUnits(to))
  const denominator = rate.denominator * 10n ** BigInt(minorUnits(from)) * unit
  const steps = (2n * numerator + denominator) / (2n * denominator)
  const converted = steps * unit
  return converted > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Math.max(Number(converted), minimumCharge(to))
}
