// What a buyer types for the tax calculation (country, address, business name and tax id), on
// the hosted page or through pay(), checked as Stripe's page checks it.
import { isKnownCountry, parseTaxId } from './tax.js'
import type { Buyer, CheckoutSession } from './types.js'

export interface BuyerInput {
  address?: { country: string, line1?: string, postal_code?: string, city?: string }
  taxId?: string
  businessName?: string
}

export type BuyerField = 'country' | 'tax_id' | 'business_name'

/** Whether the page must collect the buyer's address (and pay() needs one). */
export const needsAddress = (session: CheckoutSession): boolean =>
  session.billing_address_collection === 'required' || session.automatic_tax.enabled

const blankToNull = (value: string | undefined): string | null => {
  const trimmed = value?.trim() ?? ''
  return trimmed === '' ? null : trimmed
}

/** The buyer, or what is wrong (and which field) in words for the page. */
export function parseBuyer (session: CheckoutSession, input: BuyerInput): { ok: true, buyer: Buyer } | { ok: false, field: BuyerField, message: string } {
  const country = (input.address?.country ?? '').trim().toUpperCase()
  if (country === '') return { ok: false, field: 'country', message: 'Choose your country.' }
  if (!/^[A-Z]{2}$/.test(country) || !isKnownCountry(country)) return { ok: false, field: 'country', message: `Unknown country: ${country}.` }
  const address = {
    country,
    line1: blankToNull(input.address?.line1),
    postal_code: blankToNull(input.address?.postal_code),
    city: blankToNull(input.address?.city)
  }
  const rawTaxId = blankToNull(input.taxId)
  const businessName = blankToNull(input.businessName)
  if (rawTaxId === null) return { ok: true, buyer: { address, taxId: null, businessName } }
  if (!session.tax_id_collection.enabled) return { ok: false, field: 'tax_id', message: 'This checkout does not collect tax ids.' }
  const parsed = parseTaxId(country, rawTaxId)
  if (!parsed.ok) return { ok: false, field: 'tax_id', message: parsed.message }
  return { ok: true, buyer: { address, taxId: parsed.taxId, businessName } }
}
