// Parameters of coupons.create, promotionCodes.create/update, prices.create and
// paymentLinks.create/update, validated like Stripe. Params Stripe knows but the emulator does
// not model are refused by name, never silently ignored; unknown ones as Stripe refuses them.
import { isSupportedCurrency } from '../../lib/money.js'
import type { AfterCompletion, NewCoupon, NewPaymentLink, NewPrice, NewPromotionCode } from './catalog.js'
import {
  type FormObject, invalid, isHttpUrl, isObj, optionalBoolean, optionalString, parseMetadata,
  parseNonNegativeInt, refuseUnsupported, requireString
} from './params.js'

function checkKnown (body: FormObject, supported: readonly string[], unsupported: readonly string[], what: string): void {
  const known = new Set([...supported, ...unsupported])
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw invalid(`Received unknown parameter: ${key}`, key)
  }
  refuseUnsupported(body, unsupported, what)
}

function currencyParam (body: FormObject, key: string, param = key): string {
  const currency = requireString(body, key, param).toLowerCase()
  if (!isSupportedCurrency(currency)) throw invalid(`Invalid currency: ${currency}.`, param)
  return currency
}

const COUPON_DURATIONS = new Set(['once', 'repeating', 'forever'])

export function parseCreateCoupon (body: FormObject): NewCoupon {
  checkKnown(body, ['amount_off', 'currency', 'duration', 'duration_in_months', 'expand', 'id', 'metadata', 'name', 'percent_off'],
    ['applies_to', 'currency_options', 'max_redemptions', 'redeem_by'], 'coupons')
  const rawPercent = optionalString(body, 'percent_off')
  const rawAmount = optionalString(body, 'amount_off')
  if (rawPercent !== null && rawAmount !== null) throw invalid('You may only specify one of these parameters: amount_off, percent_off.', 'percent_off')
  if (rawPercent === null && rawAmount === null) throw invalid('You must pass either amount_off or percent_off.', 'percent_off')
  let percentOff: number | null = null
  let amountOff: number | null = null
  let currency: string | null = null
  if (rawPercent !== null) {
    percentOff = Number(rawPercent)
    if (!/^\d+(\.\d{1,2})?$/.test(rawPercent) || !(percentOff > 0) || percentOff > 100) {
      throw invalid('Invalid percent_off: must be greater than 0 and at most 100.', 'percent_off')
    }
  } else if (rawAmount !== null) {
    amountOff = parseNonNegativeInt(rawAmount, 'amount_off', 1)
    if (body.currency === undefined) throw invalid('You must pass currency when passing amount_off.', 'currency')
    currency = currencyParam(body, 'currency')
  }
  const duration = optionalString(body, 'duration') ?? 'once'
  if (!COUPON_DURATIONS.has(duration)) throw invalid('Invalid duration: must be one of once, repeating, or forever', 'duration')
  const rawMonths = optionalString(body, 'duration_in_months')
  if (duration === 'repeating' && rawMonths === null) throw invalid('Missing required param: duration_in_months.', 'duration_in_months')
  if (duration !== 'repeating' && rawMonths !== null) throw invalid('duration_in_months may only be set when duration is repeating.', 'duration_in_months')
  const durationInMonths = rawMonths === null ? null : parseNonNegativeInt(rawMonths, 'duration_in_months', 1)
  const id = optionalString(body, 'id')
  const name = optionalString(body, 'name')
  if (name !== null && name.length > 40) throw invalid('Invalid name: must be at most 40 characters', 'name')
  return { id, name, percentOff, amountOff, currency, duration: duration as NewCoupon['duration'], durationInMonths, metadata: parseMetadata(body) }
}

/**
 * The coupon comes as `promotion[type]=coupon&promotion[coupon]=…` (API versions from
 * 2025-09-30.clover, what the installed SDK sends) or as `coupon` (earlier versions).
 */
export function parseCreatePromotionCode (body: FormObject): NewPromotionCode {
  checkKnown(body, ['active', 'code', 'coupon', 'expand', 'metadata', 'promotion'],
    ['customer', 'customer_account', 'expires_at', 'max_redemptions', 'restrictions'], 'promotion codes')
  let coupon: string
  if (body.promotion !== undefined) {
    if (!isObj(body.promotion)) throw invalid('Invalid object: promotion.', 'promotion')
    const type = requireString(body.promotion, 'type', 'promotion[type]')
    if (type !== 'coupon') throw invalid('Invalid promotion[type]: must be coupon', 'promotion[type]')
    coupon = requireString(body.promotion, 'coupon', 'promotion[coupon]')
    if (body.coupon !== undefined) throw invalid('You may only specify one of these parameters: coupon, promotion.', 'coupon')
  } else {
    if (body.coupon === undefined) throw invalid('Missing required param: promotion.', 'promotion')
    coupon = requireString(body, 'coupon', 'coupon')
  }
  const code = optionalString(body, 'code')
  if (code !== null && (code.length > 500 || !/^[A-Za-z0-9-]+$/.test(code))) {
    throw invalid('Invalid code: use at most 500 letters (a-z, A-Z), digits (0-9) and dashes.', 'code')
  }
  return { coupon, code, active: optionalBoolean(body, 'active') ?? true, metadata: parseMetadata(body) }
}

export function parseUpdatePromotionCode (body: FormObject): { active?: boolean, metadata?: Record<string, string> } {
  checkKnown(body, ['active', 'expand', 'metadata'], ['restrictions'], 'promotion codes')
  const active = optionalBoolean(body, 'active')
  return { ...(active === null ? {} : { active }), ...(body.metadata === undefined ? {} : { metadata: parseMetadata(body) }) }
}

export function parseCreatePrice (body: FormObject): NewPrice {
  checkKnown(body, ['currency', 'expand', 'metadata', 'product_data', 'unit_amount'],
    ['active', 'billing_scheme', 'currency_options', 'custom_unit_amount', 'lookup_key', 'nickname', 'product', 'recurring',
      'tax_behavior', 'tiers', 'tiers_mode', 'transfer_lookup_key', 'transform_quantity', 'unit_amount_decimal'], 'prices')
  const currency = currencyParam(body, 'currency')
  const unitAmount = parseNonNegativeInt(requireString(body, 'unit_amount', 'unit_amount'), 'unit_amount', 0)
  if (!isObj(body.product_data)) throw invalid('Missing required param: product_data.', 'product_data')
  const productName = requireString(body.product_data, 'name', 'product_data[name]')
  return { currency, unitAmount, productName, metadata: parseMetadata(body) }
}

function parseAfterCompletion (body: FormObject): AfterCompletion {
  const raw = body.after_completion
  if (raw === undefined) return { type: 'hosted_confirmation', hosted_confirmation: { custom_message: null } }
  if (!isObj(raw)) throw invalid('Invalid object: after_completion.', 'after_completion')
  const type = requireString(raw, 'type', 'after_completion[type]')
  if (type === 'redirect') {
    const url = isObj(raw.redirect) ? requireString(raw.redirect, 'url', 'after_completion[redirect][url]') : ''
    if (!isHttpUrl(url)) throw invalid('Not a valid URL', 'after_completion[redirect][url]')
    return { type, redirect: { url } }
  }
  if (type !== 'hosted_confirmation') throw invalid('Invalid after_completion[type]: must be one of hosted_confirmation or redirect', 'after_completion[type]')
  const message = isObj(raw.hosted_confirmation) ? optionalString(raw.hosted_confirmation, 'custom_message') : null
  return { type, hosted_confirmation: { custom_message: message } }
}

const UNSUPPORTED_LINK_PARAMS = [
  'application_fee_amount', 'application_fee_percent', 'automatic_tax', 'billing_address_collection', 'consent_collection',
  'currency', 'custom_fields', 'custom_text', 'customer_creation', 'inactive_message', 'invoice_creation', 'name_collection',
  'on_behalf_of', 'optional_items', 'payment_intent_data', 'payment_method_collection', 'payment_method_types',
  'phone_number_collection', 'restrictions', 'shipping_address_collection', 'shipping_options', 'submit_type',
  'subscription_data', 'tax_id_collection', 'transfer_data'
]

/** One line item with a price id and a quantity, as this emulator's sessions have one. */
export function parseCreatePaymentLink (body: FormObject): NewPaymentLink {
  checkKnown(body, ['after_completion', 'allow_promotion_codes', 'expand', 'line_items', 'metadata'], UNSUPPORTED_LINK_PARAMS, 'payment links')
  const items = body.line_items
  if (items === undefined) throw invalid('Missing required param: line_items.', 'line_items')
  if (!Array.isArray(items)) throw invalid('Invalid array: line_items must be an array.', 'line_items')
  if (items.length !== 1) throw invalid('This emulator supports exactly one line item.', 'line_items')
  const item = items[0]
  if (!isObj(item)) throw invalid('Invalid object: line_items[0].', 'line_items[0]')
  if (item.price_data !== undefined) throw invalid('This emulator supports line_items[0][price], not price_data, on payment links.', 'line_items[0][price_data]')
  const price = requireString(item, 'price', 'line_items[0][price]')
  const quantity = parseNonNegativeInt(requireString(item, 'quantity', 'line_items[0][quantity]'), 'line_items[0][quantity]', 1)
  return {
    price,
    quantity,
    allowPromotionCodes: optionalBoolean(body, 'allow_promotion_codes') ?? false,
    afterCompletion: parseAfterCompletion(body),
    metadata: parseMetadata(body)
  }
}

export function parseUpdatePaymentLink (body: FormObject): { active?: boolean, allowPromotionCodes?: boolean, metadata?: Record<string, string> } {
  checkKnown(body, ['active', 'allow_promotion_codes', 'expand', 'metadata'], [...UNSUPPORTED_LINK_PARAMS, 'after_completion', 'line_items'], 'payment links')
  const active = optionalBoolean(body, 'active')
  const allow = optionalBoolean(body, 'allow_promotion_codes')
  return {
    ...(active === null ? {} : { active }),
    ...(allow === null ? {} : { allowPromotionCodes: allow }),
    ...(body.metadata === undefined ? {} : { metadata: parseMetadata(body) })
  }
}
