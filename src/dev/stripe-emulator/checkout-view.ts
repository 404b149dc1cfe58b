// What the hosted checkout page shows (views/dev/stripe-emulator/checkout.eta): the lines, the
// totals with the discount and the tax line, the address and business fields when the session
// collects them, and the payment form, empty or as the buyer sent it with what went wrong.
import { formatAmount } from '../../lib/money.js'
import { needsAddress } from './buyer.js'
import { countryOptions, formatRate, taxName } from './tax.js'
import type { CheckoutSession, SessionState } from './types.js'

type Form = Record<string, string | string[] | undefined>

/** A form field as the last of its values, like URLSearchParams read into an object. */
export function field (form: Form | undefined, name: string): string | undefined {
  const value = form?.[name]
  return Array.isArray(value) ? value[value.length - 1] : value
}

export interface CheckoutErrors { payment?: string, promotion?: string, country?: string, taxId?: string }

export interface CheckoutView {
  title: string
  /** What is due: the total after any discount, with exclusive tax. */
  price: string
  productName: string
  /** Every line, shown when there are several or a quantity above one. */
  lines: Array<{ name: string, quantity: number, unit: string, amount: string }>
  /** The subtotal and the discount line, shown when a code is applied. */
  subtotal: string
  discount: { code: string, amount: string } | null
  /** With automatic tax: "VAT 19%" and its amount, or why there is none yet. */
  tax: { label: string, amount: string } | null
  /** A 100% discount: no payment method is collected. */
  free: boolean
  cancelUrl: string | null
  payPath: string
  promotion: { path: string, value: string, error: string | undefined } | null
  address: {
    path: string
    countries: Array<{ code: string, name: string, selected: boolean }>
    line1: string
    postalCode: string
    city: string
    error: string | undefined
  } | null
  business: { checked: boolean, name: string, taxId: string, error: string | undefined } | null
  email: string
  emailLocked: boolean
  bank: boolean
  error: string | undefined
  cardNumber: string
  expiry: string
  cvc: string
  name: string
}

/** The tax line: its label by where the buyer is and the rates applied. */
function taxLine (session: CheckoutSession, state: SessionState, reverse: boolean): CheckoutView['tax'] {
  if (!session.automatic_tax.enabled) return null
  const amount = formatAmount(session.total_details.amount_tax, session.currency)
  const country = state.buyer?.address.country
  if (country === undefined) return { label: 'Tax', amount: 'Enter your address' }
  if (reverse) return { label: 'Reverse charge (VAT 0%)', amount }
  const rates = [...new Set(state.lines.map((line) => line.taxRate))].filter((rate) => rate > 0).sort((a, b) => a - b)
  if (rates.length === 0) return { label: country === 'US' ? 'Tax 0 (not collected)' : `${taxName(country)} 0%`, amount }
  const inclusive = state.lines.every((line) => line.taxBehavior === 'inclusive')
  return { label: `${inclusive ? 'Includes ' : ''}${taxName(country)} ${rates.map(formatRate).join(', ')}`, amount }
}

export function checkoutView (base: string, session: CheckoutSession, state: SessionState, reverse: boolean, errors: CheckoutErrors = {}, form?: Form): CheckoutView {
  const price = formatAmount(session.amount_total, session.currency)
  const sessionPath = `${base}/pay/${encodeURIComponent(session.id)}`
  const discounted = session.total_details.amount_discount > 0 || session.discounts.length > 0
  const buyer = state.buyer
  const country = form === undefined ? buyer?.address.country ?? '' : (field(form, 'country') ?? '').toUpperCase()
  const fromForm = (name: string, stored: string | null | undefined): string => form === undefined ? stored ?? '' : field(form, name) ?? ''
  const business = form === undefined ? buyer?.taxId != null || buyer?.businessName != null : field(form, 'business') !== undefined
  return {
    title: `Pay ${price}`,
    price,
    productName: state.productName,
    lines: state.lines.map((line) => ({ name: line.description, quantity: line.quantity, unit: formatAmount(line.unitAmount, line.currency), amount: formatAmount(line.amountSubtotal, line.currency) })),
    subtotal: formatAmount(session.amount_subtotal, session.currency),
    discount: discounted ? { code: state.promotionCode ?? '', amount: `−${formatAmount(session.total_details.amount_discount, session.currency)}` } : null,
    tax: taxLine(session, state, reverse),
    free: session.amount_total === 0,
    cancelUrl: session.cancel_url,
    payPath: sessionPath,
    promotion: session.allow_promotion_codes === true
      ? { path: `${sessionPath}/promotion`, value: field(form, 'promotion_code') ?? '', error: errors.promotion }
      : null,
    address: needsAddress(session)
      ? {
          path: `${sessionPath}/address`,
          countries: countryOptions().map((c) => ({ ...c, selected: c.code === country })),
          line1: fromForm('line1', buyer?.address.line1),
          postalCode: fromForm('postal_code', buyer?.address.postal_code),
          city: fromForm('city', buyer?.address.city),
          error: errors.country
        }
      : null,
    business: session.tax_id_collection.enabled
      ? { checked: business, name: fromForm('business_name', buyer?.businessName), taxId: fromForm('tax_id', buyer?.taxId?.value), error: errors.taxId }
      : null,
    email: session.customer_email ?? field(form, 'email') ?? '',
    emailLocked: session.customer_email !== null,
    bank: field(form, 'method') === 'bank_transfer',
    error: errors.payment,
    cardNumber: field(form, 'card_number') ?? '',
    expiry: field(form, 'expiry') ?? '',
    cvc: field(form, 'cvc') ?? '',
    name: field(form, 'name') ?? ''
  }
}

/** The address and business fields of a posted form, as parseBuyer takes them. */
export function buyerInput (form: Form): { address: { country: string, line1?: string, postal_code?: string, city?: string }, taxId?: string, businessName?: string } {
  const business = field(form, 'business') !== undefined
  const taxId = business ? field(form, 'tax_id') : undefined
  const businessName = business ? field(form, 'business_name') : undefined
  return {
    address: { country: field(form, 'country') ?? '', line1: field(form, 'line1'), postal_code: field(form, 'postal_code'), city: field(form, 'city') },
    ...(taxId === undefined ? {} : { taxId }),
    ...(businessName === undefined ? {} : { businessName })
  }
}
