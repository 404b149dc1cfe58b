// The JSON bodies of POST /v2/payments and POST /v2/payments/:id/refunds, refused like Mollie
// refuses them: 422 naming the field. Amounts are decimal strings with exactly the currency's
// decimals ("10.00", JPY "500"); src/lib/money.ts knows each currency's decimals.
import { decimals, parseAmount } from '../../lib/money.js'
import { unprocessable } from './errors.js'

export interface Amount {
  currency: string
  value: string
}

/** Mollie's payment currencies (docs.mollie.com/docs/multicurrency), all in money.ts with the same decimals. */
export const MOLLIE_CURRENCIES: readonly string[] = [
  'AED', 'AUD', 'BRL', 'CAD', 'CHF', 'CZK', 'DKK', 'EUR', 'GBP', 'HKD', 'HUF', 'ILS', 'ISK', 'JPY',
  'MXN', 'MYR', 'NOK', 'NZD', 'PHP', 'PLN', 'RON', 'SEK', 'SGD', 'THB', 'TWD', 'USD', 'ZAR'
]
const CURRENCIES = new Set(MOLLIE_CURRENCIES)

// The methods a payment may be restricted to (Mollie's `method` parameter, the common ones).
const METHODS = new Set([
  'alma', 'applepay', 'bacs', 'bancomatpay', 'bancontact', 'banktransfer', 'belfius', 'billie', 'blik',
  'creditcard', 'directdebit', 'eps', 'giftcard', 'googlepay', 'ideal', 'in3', 'kbc', 'klarna', 'mbway',
  'multibanco', 'mybank', 'paybybank', 'paypal', 'paysafecard', 'przelewy24', 'riverty', 'satispay',
  'swish', 'trustly', 'twint', 'voucher'
])

const LOCALE = /^[a-z]{2}_[A-Z]{2}$/
// Mollie stores at most 1 KB of metadata per payment.
const METADATA_LIMIT = 1024

export type Body = Record<string, unknown>

export interface CreatePaymentParams {
  amount: Amount
  /** The amount in money.ts minor units, for arithmetic. */
  minor: number
  description: string
  redirectUrl: string
  webhookUrl: string | null
  metadata: unknown
  method: string | null
  locale: string | null
}

export interface CreateRefundParams {
  amount: Amount
  minor: number
  description: string
  metadata: unknown
}

const isObject = (value: unknown): value is Body => typeof value === 'object' && value !== null && !Array.isArray(value)

/** An amount object as Mollie reads it: a supported currency and a positive value with exactly its decimals. */
export function parseAmountParam (value: unknown, required: string): { amount: Amount, minor: number } {
  if (!isObject(value)) throw unprocessable(required, 'amount')
  const { currency, value: text } = value
  if (typeof currency !== 'string' || currency === '') throw unprocessable('The amount currency is required', 'amount.currency')
  if (!CURRENCIES.has(currency)) throw unprocessable(`The currency '${currency}' is not supported`, 'amount.currency')
  if (typeof text !== 'string') throw unprocessable('The amount contains an invalid value', 'amount.value')
  const places = decimals(currency)
  const exact = places === 0 ? /^\d+$/ : new RegExp(`^\\d+\\.\\d{${places}}$`)
  const minor = exact.test(text) ? parseAmount(text, currency) : undefined
  if (minor === undefined) throw unprocessable('The amount contains an invalid value', 'amount.value')
  if (minor === 0) throw unprocessable('The amount is lower than the minimum', 'amount.value')
  return { amount: { currency, value: text }, minor }
}

function httpUrl (value: unknown, field: string, label: string, required: boolean): string | null {
  if (value === undefined || value === null || value === '') {
    if (required) throw unprocessable(`The ${label} is required`, field)
    return null
  }
  if (typeof value !== 'string') throw unprocessable(`The ${label} is invalid`, field)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw unprocessable(`The ${label} is invalid`, field)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw unprocessable(`The ${label} is invalid`, field)
  return value
}

function metadataParam (value: unknown): unknown {
  if (value === undefined) return null
  if (JSON.stringify(value).length > METADATA_LIMIT) throw unprocessable('The metadata is too large, it may not exceed 1024 characters', 'metadata')
  return value
}

/** POST /v2/payments, checked in Mollie's order: amount, description, redirectUrl, then the optional rest. */
export function parseCreatePayment (body: unknown): CreatePaymentParams {
  const b = isObject(body) ? body : {}
  const { amount, minor } = parseAmountParam(b.amount, 'The amount is required for payments')
  const { description } = b
  if (typeof description !== 'string' || description.trim() === '') throw unprocessable('The description is required for payments', 'description')
  if (description.length > 255) throw unprocessable('The description may not be longer than 255 characters', 'description')
  const redirectUrl = httpUrl(b.redirectUrl, 'redirectUrl', 'redirect URL', true) as string
  const webhookUrl = httpUrl(b.webhookUrl, 'webhookUrl', 'webhook URL', false)
  let method: string | null = null
  if (b.method !== undefined && b.method !== null) {
    // An array offers the buyer a choice; the emulator records the first.
    const methods = Array.isArray(b.method) ? b.method : [b.method]
    if (methods.length === 0 || !methods.every((m) => typeof m === 'string' && METHODS.has(m))) {
      throw unprocessable('The payment method is invalid', 'method')
    }
    method = methods[0] as string
  }
  let locale: string | null = null
  if (b.locale !== undefined && b.locale !== null) {
    if (typeof b.locale !== 'string' || !LOCALE.test(b.locale)) throw unprocessable('The locale is invalid', 'locale')
    locale = b.locale
  }
  return { amount, minor, description, redirectUrl, webhookUrl, metadata: metadataParam(b.metadata), method, locale }
}

/** POST /v2/payments/:id/refunds: an amount (required) and an optional description. */
export function parseCreateRefund (body: unknown): CreateRefundParams {
  const b = isObject(body) ? body : {}
  const { amount, minor } = parseAmountParam(b.amount, 'The amount is required for refunds')
  const { description } = b
  if (description !== undefined && description !== null && typeof description !== 'string') {
    throw unprocessable('The description is invalid', 'description')
  }
  return { amount, minor, description: typeof description === 'string' ? description : '', metadata: metadataParam(b.metadata) }
}
