import { isSupportedCurrency } from '../../lib/money.js'
import type { InvoiceField, NewLine, NewSession } from './types.js'

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

export function optionalString (form: FormObject, key: string, param = key): string | null {
  const v = form[key]
  if (v === undefined || v === '') return null
  if (typeof v !== 'string') throw invalid(`Invalid string: ${param} must be a string.`, param)
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

const TAX_BEHAVIORS = new Set(['exclusive', 'inclusive', 'unspecified'])

/** One line item: inline price_data (with its tax behaviour and product tax code) and a quantity. */
function parseLineItem (item: FormValue | undefined, index: number, automaticTax: boolean): NewLine {
  const p = `line_items[${index}]`
  if (!isObj(item)) throw invalid(`Invalid object: ${p}.`, p)
  if (item.price !== undefined) throw invalid('This emulator only supports price_data, not price.', `${p}[price]`)
  const priceData = item.price_data
  if (!isObj(priceData)) throw invalid(`Missing required param: ${p}[price_data].`, `${p}[price_data]`)
  const currency = requireString(priceData, 'currency', `${p}[price_data][currency]`).toLowerCase()
  // Like Stripe, refuse a currency it cannot charge in.
  if (!isSupportedCurrency(currency)) throw invalid(`Invalid currency: ${currency}.`, `${p}[price_data][currency]`)
  const unitAmountParam = `${p}[price_data][unit_amount]`
  const unitAmount = parseNonNegativeInt(requireString(priceData, 'unit_amount', unitAmountParam), unitAmountParam, 0)
  const behaviorParam = `${p}[price_data][tax_behavior]`
  const taxBehavior = optionalString(priceData, 'tax_behavior', behaviorParam)
  if (taxBehavior !== null && !TAX_BEHAVIORS.has(taxBehavior)) {
    throw invalid(`Invalid ${behaviorParam}: must be one of exclusive, inclusive, or unspecified`, behaviorParam)
  }
  // Stricter than Stripe's account default, so an app that forgets it hears so at once.
  if (automaticTax && (taxBehavior === null || taxBehavior === 'unspecified')) {
    throw invalid(`With automatic_tax[enabled]=true, every line item needs ${behaviorParam} set to exclusive or inclusive (this emulator has no account default).`, behaviorParam)
  }
  const productData = priceData.product_data
  if (!isObj(productData)) {
    throw invalid(`Missing required param: ${p}[price_data][product_data].`, `${p}[price_data][product_data]`)
  }
  const name = requireString(productData, 'name', `${p}[price_data][product_data][name]`)
  const taxCodeParam = `${p}[price_data][product_data][tax_code]`
  const taxCode = optionalString(productData, 'tax_code', taxCodeParam)
  if (taxCode !== null && !/^txcd_\d{8}$/.test(taxCode)) throw invalid(`Invalid tax code: '${taxCode}' (a tax code is txcd_ followed by 8 digits).`, taxCodeParam)
  const quantity = parseNonNegativeInt(requireString(item, 'quantity', `${p}[quantity]`), `${p}[quantity]`, 1)
  return { name, unitAmount, quantity, currency, taxBehavior: taxBehavior as NewLine['taxBehavior'], taxCode }
}

/** 1 to 100 line items, all in one currency. */
function parseLineItems (body: FormObject, automaticTax: boolean): NewLine[] {
  const items = body.line_items
  if (items === undefined) throw invalid('Missing required param: line_items.', 'line_items')
  if (!Array.isArray(items)) throw invalid('Invalid array: line_items must be an array.', 'line_items')
  if (items.length === 0) throw invalid('Missing required param: line_items.', 'line_items')
  if (items.length > 100) throw invalid('line_items may contain at most 100 items.', 'line_items')
  const lines = items.map((item, index) => parseLineItem(item, index, automaticTax))
  const mixed = lines.findIndex((line) => line.currency !== lines[0]!.currency)
  if (mixed !== -1) {
    throw invalid(`All line items must be in the same currency: line_items[${mixed}] is in ${lines[mixed]!.currency}, line_items[0] in ${lines[0]!.currency}.`, `line_items[${mixed}][price_data][currency]`)
  }
  return lines
}

/** An `x[enabled]` object param (automatic_tax, tax_id_collection, invoice_creation); null when absent. */
function enabledParam (body: FormObject, key: string, allowed: readonly string[] = []): { enabled: boolean, rest: FormObject } | null {
  const value = body[key]
  if (value === undefined || value === '') return null
  if (!isObj(value)) throw invalid(`Invalid object: ${key}.`, key)
  for (const sub of Object.keys(value)) {
    if (sub !== 'enabled' && !allowed.includes(sub)) throw invalid(`This emulator does not support ${key}[${sub}].`, `${key}[${sub}]`)
  }
  const enabled = optionalBoolean(value, 'enabled', `${key}[enabled]`)
  if (enabled === null) throw invalid(`Missing required param: ${key}[enabled].`, `${key}[enabled]`)
  return { enabled, rest: value }
}

/** automatic_tax, tax_id_collection, billing_address_collection and invoice_creation. */
function parseTaxParams (body: FormObject): Pick<NewSession, 'automaticTax' | 'taxIdCollection' | 'billingAddressCollection' | 'invoiceCreation'> {
  const automaticTax = enabledParam(body, 'automatic_tax')?.enabled ?? false
  const taxIds = enabledParam(body, 'tax_id_collection', ['required'])
  const required = taxIds?.rest.required
  if (required !== undefined && required !== 'never') throw invalid('This emulator supports tax_id_collection[required]=never only.', 'tax_id_collection[required]')
  const billing = optionalString(body, 'billing_address_collection')
  if (billing !== null && billing !== 'auto' && billing !== 'required') {
    throw invalid('Invalid billing_address_collection: must be one of auto or required', 'billing_address_collection')
  }
  const invoice = enabledParam(body, 'invoice_creation', ['invoice_data'])
  const invoiceData = invoice?.rest.invoice_data
  let metadata: Record<string, string> = {}
  let customFields: InvoiceField[] | null = null
  if (invoiceData !== undefined) {
    if (!isObj(invoiceData)) throw invalid('Invalid object: invoice_creation[invoice_data].', 'invoice_creation[invoice_data]')
    for (const sub of Object.keys(invoiceData)) {
      if (sub !== 'metadata' && sub !== 'custom_fields') throw invalid(`This emulator does not support invoice_creation[invoice_data][${sub}].`, `invoice_creation[invoice_data][${sub}]`)
    }
    metadata = parseMetadata(invoiceData)
    customFields = parseCustomFields(invoiceData.custom_fields)
  }
  return {
    automaticTax,
    taxIdCollection: taxIds?.enabled ?? false,
    billingAddressCollection: billing as 'auto' | 'required' | null,
    invoiceCreation: { enabled: invoice?.enabled ?? false, metadata, customFields }
  }
}

/** invoice_data[custom_fields]: at most 4 of { name (40 characters), value (140) }, as Stripe allows. */
function parseCustomFields (value: FormValue | undefined): InvoiceField[] | null {
  const param = 'invoice_creation[invoice_data][custom_fields]'
  if (value === undefined || value === '') return null
  if (!Array.isArray(value)) throw invalid(`Invalid array: ${param}.`, param)
  if (value.length > 4) throw invalid(`${param} may have at most 4 entries.`, param)
  return value.map((field, i) => {
    if (!isObj(field)) throw invalid(`Invalid object: ${param}[${i}].`, `${param}[${i}]`)
    const name = requireString(field, 'name', `${param}[${i}][name]`)
    const text = requireString(field, 'value', `${param}[${i}][value]`)
    if (name.length > 40) throw invalid(`${param}[${i}][name] must be at most 40 characters.`, `${param}[${i}][name]`)
    if (text.length > 140) throw invalid(`${param}[${i}][value] must be at most 140 characters.`, `${param}[${i}][value]`)
    return { name, value: text }
  })
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
  const tax = parseTaxParams(body)
  const lines = parseLineItems(body, tax.automaticTax === true)
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
  return { lines, currency: lines[0]!.currency, clientReferenceId, customerEmail, metadata, successUrl, cancelUrl, allowPromotionCodes, paymentLink: null, ...tax }
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
