import { isSupportedCurrency } from '../../lib/money.js'
import type { NewSession } from './state.js'

/** A form body or query string in Stripe's bracket encoding, as qs reads it. */
export type FormValue = string | FormValue[] | { [key: string]: FormValue }
export type FormObject = { [key: string]: FormValue }

export interface StripeErrorBody {
  type: string
  message: string
  code?: string
  param?: string
}

/** An error answered the way Stripe answers it: `{ error: { type, message, … } }` with a status. */
export class ApiError extends Error {
  constructor (readonly status: number, readonly body: StripeErrorBody) {
    super(body.message)
  }
}

export const invalid = (message: string, param?: string): ApiError =>
  new ApiError(400, { type: 'invalid_request_error', message, ...(param !== undefined ? { param } : {}) })

// Top-level params Stripe accepts on checkout.sessions.create. Anything else is
// rejected with "Received unknown parameter", which catches typos in the app
// exactly where real Stripe would.
const KNOWN_CREATE_PARAMS = new Set([
  'adaptive_pricing', 'after_expiration', 'allow_promotion_codes', 'allowed_payment_method_types', 'automatic_tax',
  'billing_address_collection', 'branding_settings', 'cancel_url', 'client_reference_id', 'consent_collection',
  'currency', 'custom_fields', 'custom_text', 'customer', 'customer_account', 'customer_creation', 'customer_email',
  'customer_update', 'discounts', 'excluded_payment_method_types', 'expand', 'expires_at', 'integration_identifier',
  'invoice_creation', 'line_items', 'locale', 'managed_payments', 'metadata', 'mode', 'name_collection',
  'optional_items', 'origin_context', 'payment_intent_data', 'payment_method_collection',
  'payment_method_configuration', 'payment_method_data', 'payment_method_options', 'payment_method_types',
  'permissions', 'phone_number_collection', 'redirect_on_completion', 'return_url', 'saved_payment_method_options',
  'setup_intent_data', 'shipping_address_collection', 'shipping_options', 'submit_type', 'subscription_data',
  'success_url', 'tax_id_collection', 'ui_mode', 'wallet_options'
])

export const isObj = (v: FormValue | undefined): v is FormObject => typeof v === 'object' && v !== null && !Array.isArray(v)

export function isHttpUrl (value: string): boolean {
  try {
    const u = new URL(value)
    return u.protocol === 'http:' || u.protocol === 'https:'
  } catch {
    return false
  }
}

export function requireString (form: FormObject | undefined, key: string, param: string): string {
  const v = form?.[key]
  if (v === undefined || v === '') throw invalid(`Missing required param: ${param}.`, param)
  if (typeof v !== 'string') throw invalid(`Invalid string: ${param} must be a string.`, param)
  return v
}

export function optionalString (form: FormObject, key: string): string | null {
  const v = form[key]
  if (v === undefined || v === '') return null
  if (typeof v !== 'string') throw invalid(`Invalid string: ${key} must be a string.`, key)
  return v
}

export function parseNonNegativeInt (value: string, param: string, min: number): number {
  if (!/^\d+$/.test(value)) throw invalid(`Invalid integer: ${value}`, param)
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min) {
    throw invalid(`This value must be greater than or equal to ${min}.`, param)
  }
  return n
}

/** A boolean as the SDK sends it ("true"/"false"); null when absent. */
export function optionalBoolean (form: FormObject, key: string, param = key): boolean | null {
  const v = form[key]
  if (v === undefined || v === '') return null
  if (v === 'true') return true
  if (v === 'false') return false
  throw invalid(`Invalid boolean: ${typeof v === 'string' ? v : JSON.stringify(v)}`, param)
}

/** Params Stripe knows but this emulator does not model: refused rather than silently ignored. */
export function refuseUnsupported (body: FormObject, keys: readonly string[], what: string): void {
  for (const key of keys) {
    if (body[key] !== undefined) throw invalid(`This emulator does not support ${key} on ${what}.`, key)
  }
}

export function requireUrl (body: FormObject, key: string): string {
  const url = requireString(body, key, key)
  if (!isHttpUrl(url)) throw invalid('Not a valid URL', key)
  return url
}

/** The one line item this emulator supports: inline price_data and a quantity. */
function parseLineItem (body: FormObject): { productName: string, currency: string, amount: number } {
  const items = body.line_items
  if (items === undefined) throw invalid('Missing required param: line_items.', 'line_items')
  if (!Array.isArray(items)) throw invalid('Invalid array: line_items must be an array.', 'line_items')
  if (items.length !== 1) throw invalid('This emulator supports exactly one line item.', 'line_items')
  const item = items[0]
  if (!isObj(item)) throw invalid('Invalid object: line_items[0].', 'line_items[0]')
  const p = 'line_items[0]'
  if (item.price !== undefined) throw invalid('This emulator only supports price_data, not price.', `${p}[price]`)
  const priceData = item.price_data
  if (!isObj(priceData)) throw invalid(`Missing required param: ${p}[price_data].`, `${p}[price_data]`)
  const currency = requireString(priceData, 'currency', `${p}[price_data][currency]`).toLowerCase()
  // Like Stripe, refuse a currency it cannot charge in.
  if (!isSupportedCurrency(currency)) throw invalid(`Invalid currency: ${currency}.`, `${p}[price_data][currency]`)
  const unitAmountParam = `${p}[price_data][unit_amount]`
  const unitAmount = parseNonNegativeInt(requireString(priceData, 'unit_amount', unitAmountParam), unitAmountParam, 0)
  const productData = priceData.product_data
  if (!isObj(productData)) {
    throw invalid(`Missing required param: ${p}[price_data][product_data].`, `${p}[price_data][product_data]`)
  }
  const productName = requireString(productData, 'name', `${p}[price_data][product_data][name]`)
  const quantity = parseNonNegativeInt(requireString(item, 'quantity', `${p}[quantity]`), `${p}[quantity]`, 1)
  return { productName, currency, amount: unitAmount * quantity }
}

export function parseMetadata (body: FormObject): Record<string, string> {
  const metadata: Record<string, string> = {}
  const rawMeta = body.metadata
  if (rawMeta === undefined || rawMeta === '') return metadata
  if (!isObj(rawMeta)) throw invalid('Invalid object: metadata.', 'metadata')
  for (const [k, v] of Object.entries(rawMeta)) {
    if (typeof v !== 'string') throw invalid(`Invalid metadata value for ${k}: must be a string.`, `metadata[${k}]`)
    // Stripe deletes a metadata key when it is set to an empty string.
    if (v !== '') metadata[k] = v
  }
  return metadata
}

/** Validates checkout.sessions.create's params in the order Stripe reports problems with them. */
export function parseCreateSession (body: FormObject): NewSession {
  for (const key of Object.keys(body)) {
    if (!KNOWN_CREATE_PARAMS.has(key)) throw invalid(`Received unknown parameter: ${key}`, key)
  }
  const mode = requireString(body, 'mode', 'mode')
  if (mode !== 'payment') throw invalid(`Invalid mode: this emulator only supports mode=payment, got '${mode}'.`, 'mode')
  const { productName, currency, amount } = parseLineItem(body)
  const successUrl = requireUrl(body, 'success_url')
  const cancelUrl = requireUrl(body, 'cancel_url')
  const clientReferenceId = optionalString(body, 'client_reference_id')
  if (clientReferenceId !== null && clientReferenceId.length > 200) {
    throw invalid('client_reference_id must be at most 200 characters.', 'client_reference_id')
  }
  const customerEmail = optionalString(body, 'customer_email')
  const metadata = parseMetadata(body)
  const allowPromotionCodes = optionalBoolean(body, 'allow_promotion_codes')
  if (allowPromotionCodes !== null && body.discounts !== undefined) {
    throw invalid('You may only specify one of these parameters: allow_promotion_codes, discounts.', 'allow_promotion_codes')
  }
  return { productName, amount, currency, clientReferenceId, customerEmail, metadata, successUrl, cancelUrl, allowPromotionCodes, paymentLink: null }
}

// Top-level params Stripe accepts on refunds.create.
const KNOWN_REFUND_PARAMS = new Set([
  'amount', 'charge', 'currency', 'customer', 'expand', 'instructions_email', 'metadata', 'origin',
  'payment_intent', 'reason', 'refund_application_fee', 'reverse_transfer'
])
const REFUND_REASONS = new Set(['duplicate', 'fraudulent', 'requested_by_customer'])

/** A validated refunds.create request: this emulator refunds by payment intent. */
export interface NewRefund {
  paymentIntent: string
  /** Minor units; undefined refunds all that is left. */
  amount: number | undefined
  reason: string | null
}

export function parseCreateRefund (body: FormObject): NewRefund {
  for (const key of Object.keys(body)) {
    if (!KNOWN_REFUND_PARAMS.has(key)) throw invalid(`Received unknown parameter: ${key}`, key)
  }
  if (body.charge !== undefined) throw invalid('This emulator refunds by payment_intent, not charge.', 'charge')
  const paymentIntent = requireString(body, 'payment_intent', 'payment_intent')
  const rawAmount = optionalString(body, 'amount')
  const amount = rawAmount === null ? undefined : parseNonNegativeInt(rawAmount, 'amount', 1)
  const reason = optionalString(body, 'reason')
  if (reason !== null && !REFUND_REASONS.has(reason)) throw invalid('Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer', 'reason')
  parseMetadata(body)
  return { paymentIntent, amount, reason }
}
