// What a Stripe account holds besides payments: coupons and the promotion codes customers type,
// prices and the Payment Links that sell them. Objects are kept in Stripe's wire shape.
import { minimumCharge } from '../../lib/money.js'
import { nowSec, randomId } from './ids.js'

export interface Coupon {
  id: string
  object: 'coupon'
  amount_off: number | null
  created: number
  currency: string | null
  duration: 'once' | 'repeating' | 'forever'
  duration_in_months: number | null
  livemode: false
  max_redemptions: number | null
  metadata: Record<string, string>
  name: string | null
  percent_off: number | null
  redeem_by: number | null
  times_redeemed: number
  valid: boolean
}

/**
 * A promotion code as API versions from 2025-09-30.clover answer it (`promotion.coupon`); older
 * versions answer `coupon` with the coupon object instead (see promotionCodeForVersion).
 */
export interface PromotionCode {
  id: string
  object: 'promotion_code'
  active: boolean
  code: string
  created: number
  customer: null
  expires_at: number | null
  livemode: false
  max_redemptions: number | null
  metadata: Record<string, string>
  promotion: { type: 'coupon', coupon: string }
  restrictions: { first_time_transaction: false, minimum_amount: null, minimum_amount_currency: null }
  times_redeemed: number
}

export interface Price {
  id: string
  object: 'price'
  active: true
  billing_scheme: 'per_unit'
  created: number
  currency: string
  custom_unit_amount: null
  livemode: false
  lookup_key: null
  metadata: Record<string, string>
  nickname: null
  product: string
  recurring: null
  tax_behavior: 'unspecified'
  tiers_mode: null
  transform_quantity: null
  type: 'one_time'
  unit_amount: number
  unit_amount_decimal: string
}

export type AfterCompletion =
  | { type: 'hosted_confirmation', hosted_confirmation: { custom_message: string | null } }
  | { type: 'redirect', redirect: { url: string } }

export interface PaymentLink {
  id: string
  object: 'payment_link'
  active: boolean
  after_completion: AfterCompletion
  allow_promotion_codes: boolean
  billing_address_collection: 'auto'
  currency: string
  customer_creation: 'if_required'
  inactive_message: string | null
  livemode: false
  metadata: Record<string, string>
  payment_method_types: null
  submit_type: 'auto'
  url: string
}

/** What Stripe keeps about a link beyond the object: its one line item. */
export interface LinkItem { price: Price, quantity: number, productName: string }

export interface NewCoupon {
  id: string | null
  name: string | null
  percentOff: number | null
  amountOff: number | null
  currency: string | null
  duration: Coupon['duration']
  durationInMonths: number | null
  metadata: Record<string, string>
}

export interface NewPromotionCode { coupon: string, code: string | null, active: boolean, metadata: Record<string, string> }
export interface NewPrice { unitAmount: number, currency: string, productName: string, metadata: Record<string, string> }
export interface NewPaymentLink {
  price: string
  quantity: number
  allowPromotionCodes: boolean
  afterCompletion: AfterCompletion
  metadata: Record<string, string>
}

/** A refusal of a catalog request, mapped by the API to Stripe's error for it. */
export class CatalogError extends Error {
  constructor (readonly kind: 'missing' | 'exists' | 'invalid', message: string, readonly param?: string) {
    super(message)
  }
}

/** The discount a code gives on an amount, or why it gives none (shown to the buyer). */
export type Discount = { ok: true, promotionCode: PromotionCode, coupon: Coupon, amount: number } | { ok: false, message: string }

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'

export class Catalog {
  readonly coupons = new Map<string, Coupon>()
  readonly promotionCodes = new Map<string, PromotionCode>()
  readonly prices = new Map<string, Price>()
  readonly paymentLinks = new Map<string, PaymentLink>()
  readonly #productNames = new Map<string, string>()
  readonly #linkItems = new Map<string, { price: string, quantity: number }>()

  constructor (private readonly baseUrl: () => string) {}

  createCoupon (input: NewCoupon): Coupon {
    const id = input.id ?? randomId('', 8)
    if (this.coupons.has(id)) throw new CatalogError('exists', 'Coupon already exists.', 'id')
    const coupon: Coupon = {
      id,
      object: 'coupon',
      amount_off: input.amountOff,
      created: nowSec(),
      currency: input.currency,
      duration: input.duration,
      duration_in_months: input.durationInMonths,
      livemode: false,
      max_redemptions: null,
      metadata: input.metadata,
      name: input.name,
      percent_off: input.percentOff,
      redeem_by: null,
      times_redeemed: 0,
      valid: true
    }
    this.coupons.set(id, coupon)
    return coupon
  }

  createPromotionCode (input: NewPromotionCode): PromotionCode {
    if (!this.coupons.has(input.coupon)) throw new CatalogError('invalid', `No such coupon: '${input.coupon}'`, 'promotion[coupon]')
    const code = input.code ?? this.#freeCode()
    // Like Stripe: codes are case-insensitive and unique among the active ones.
    if (input.active && this.activeCode(code) !== undefined) {
      throw new CatalogError('exists', `An active promotion code with \`code: ${code}\` already exists.`, 'code')
    }
    const promotionCode: PromotionCode = {
      id: randomId('promo_'),
      object: 'promotion_code',
      active: input.active,
      code,
      created: nowSec(),
      customer: null,
      expires_at: null,
      livemode: false,
      max_redemptions: null,
      metadata: input.metadata,
      promotion: { type: 'coupon', coupon: input.coupon },
      restrictions: { first_time_transaction: false, minimum_amount: null, minimum_amount_currency: null },
      times_redeemed: 0
    }
    this.promotionCodes.set(promotionCode.id, promotionCode)
    return promotionCode
  }

  updatePromotionCode (id: string, patch: { active?: boolean, metadata?: Record<string, string> }): PromotionCode {
    const promotionCode = this.promotionCodes.get(id)
    if (promotionCode === undefined) throw new CatalogError('missing', `No such promotion_code: '${id}'`, 'promotion_code')
    if (patch.active === true && !promotionCode.active && this.activeCode(promotionCode.code) !== undefined) {
      throw new CatalogError('exists', `An active promotion code with \`code: ${promotionCode.code}\` already exists.`, 'active')
    }
    if (patch.active !== undefined) promotionCode.active = patch.active
    if (patch.metadata !== undefined) Object.assign(promotionCode.metadata, patch.metadata)
    return promotionCode
  }

  /** The active promotion code a customer typed, in any letter case. */
  activeCode (code: string): PromotionCode | undefined {
    const wanted = code.trim().toLowerCase()
    for (const promotionCode of this.promotionCodes.values()) {
      if (promotionCode.active && promotionCode.code.toLowerCase() === wanted) return promotionCode
    }
    return undefined
  }

  /**
   * What a typed code takes off a subtotal. An amount-off coupon in another currency does not
   * apply; a discount never exceeds the subtotal, and must leave either nothing to pay or at least
   * the currency's minimum charge (Stripe cannot charge less).
   */
  discountFor (code: string, subtotal: number, currency: string): Discount {
    const promotionCode = this.activeCode(code)
    const coupon = promotionCode === undefined ? undefined : this.coupons.get(promotionCode.promotion.coupon)
    if (promotionCode === undefined || coupon === undefined || !coupon.valid) return { ok: false, message: 'This code is invalid.' }
    let amount: number
    if (coupon.percent_off !== null) {
      amount = Math.round(subtotal * coupon.percent_off / 100)
    } else {
      if (coupon.currency !== currency) return { ok: false, message: 'This code is not valid for this currency.' }
      amount = coupon.amount_off ?? 0
    }
    amount = Math.min(amount, subtotal)
    const total = subtotal - amount
    if (total > 0 && total < minimumCharge(currency)) {
      return { ok: false, message: 'This code cannot be applied: the total would be below the minimum charge.' }
    }
    return { ok: true, promotionCode, coupon, amount }
  }

  /** A completed session used the code: both count the redemption, as on Stripe. */
  redeemed (promotionCodeId: string): void {
    const promotionCode = this.promotionCodes.get(promotionCodeId)
    if (promotionCode === undefined) return
    promotionCode.times_redeemed += 1
    const coupon = this.coupons.get(promotionCode.promotion.coupon)
    if (coupon !== undefined) coupon.times_redeemed += 1
  }

  createPrice (input: NewPrice): Price {
    const product = randomId('prod_', 14)
    this.#productNames.set(product, input.productName)
    const price: Price = {
      id: randomId('price_'),
      object: 'price',
      active: true,
      billing_scheme: 'per_unit',
      created: nowSec(),
      currency: input.currency,
      custom_unit_amount: null,
      livemode: false,
      lookup_key: null,
      metadata: input.metadata,
      nickname: null,
      product,
      recurring: null,
      tax_behavior: 'unspecified',
      tiers_mode: null,
      transform_quantity: null,
      type: 'one_time',
      unit_amount: input.unitAmount,
      unit_amount_decimal: String(input.unitAmount)
    }
    this.prices.set(price.id, price)
    return price
  }

  createPaymentLink (input: NewPaymentLink): PaymentLink {
    const price = this.prices.get(input.price)
    if (price === undefined) throw new CatalogError('invalid', `No such price: '${input.price}'`, 'line_items[0][price]')
    const id = randomId('plink_')
    const link: PaymentLink = {
      id,
      object: 'payment_link',
      active: true,
      after_completion: input.afterCompletion,
      allow_promotion_codes: input.allowPromotionCodes,
      billing_address_collection: 'auto',
      currency: price.currency,
      customer_creation: 'if_required',
      inactive_message: null,
      livemode: false,
      metadata: input.metadata,
      payment_method_types: null,
      submit_type: 'auto',
      url: `${this.baseUrl()}/b/${id}`
    }
    this.paymentLinks.set(id, link)
    this.#linkItems.set(id, { price: price.id, quantity: input.quantity })
    return link
  }

  updatePaymentLink (id: string, patch: { active?: boolean, allowPromotionCodes?: boolean, metadata?: Record<string, string> }): PaymentLink {
    const link = this.paymentLinks.get(id)
    if (link === undefined) throw new CatalogError('missing', `No such payment_link: '${id}'`, 'id')
    if (patch.active !== undefined) link.active = patch.active
    if (patch.allowPromotionCodes !== undefined) link.allow_promotion_codes = patch.allowPromotionCodes
    if (patch.metadata !== undefined) Object.assign(link.metadata, patch.metadata)
    return link
  }

  /** The link's line item with its price and product name. */
  linkItem (id: string): LinkItem | undefined {
    const item = this.#linkItems.get(id)
    const price = item === undefined ? undefined : this.prices.get(item.price)
    if (item === undefined || price === undefined) return undefined
    return { price, quantity: item.quantity, productName: this.#productNames.get(price.product) ?? price.product }
  }

  #freeCode (): string {
    // Bounded: a clash among 32^8 codes is practically impossible, but never loop forever.
    for (let i = 0; i < 10; i++) {
      const code = randomId('', 8).toUpperCase().replace(/[^A-Z2-9]/g, (c) => CODE_ALPHABET[c.charCodeAt(0) % CODE_ALPHABET.length]!)
      if (this.activeCode(code) === undefined) return code
    }
    throw new Error('stripe-emulator: could not pick a free promotion code')
  }
}

/**
 * A promotion code in the shape the request's API version expects: before 2025-09-30.clover
 * Stripe answered `coupon` (the whole coupon) where later versions answer `promotion`.
 */
export function promotionCodeForVersion (promotionCode: PromotionCode, coupon: Coupon | undefined, version: string | undefined): Record<string, unknown> {
  if (version === undefined || version >= '2025-09-30') return { ...promotionCode }
  const { promotion: _promotion, ...rest } = promotionCode
  return { ...rest, coupon }
}
