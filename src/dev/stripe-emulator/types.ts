// The objects the emulator keeps, in Stripe's wire shape where Stripe answers them (Checkout
// Session, Refund, Invoice), and what it keeps beside them.
import type { TaxBehavior, TaxId } from './tax.js'

export interface Address { city: string | null, country: string | null, line1: string | null, line2: string | null, postal_code: string | null, state: string | null }

export interface CustomerDetails {
  email: string | null
  name: string | null
  /** The business the buyer bought as, when they said so on the page (Stripe's business_name). */
  business_name: string | null
  address: Address
  phone: null
  /** `reverse` when the buyer is an EU business in another EU country (reverse charge). */
  tax_exempt: 'none' | 'reverse'
  tax_ids: TaxId[]
}

export interface CheckoutSession {
  id: string
  object: 'checkout.session'
  mode: 'payment'
  status: 'open' | 'complete' | 'expired'
  /** `no_payment_required` when a discount brought the total to 0: nothing is charged. */
  payment_status: 'unpaid' | 'paid' | 'no_payment_required'
  allow_promotion_codes: boolean | null
  /** The line items' amounts, before discounts and before exclusive tax. */
  amount_subtotal: number
  /** What the buyer pays: amount_subtotal - amount_discount (+ amount_tax when exclusive). */
  amount_total: number
  total_details: { amount_discount: number, amount_shipping: number, amount_tax: number }
  /** The applied promotion code, if any (Stripe's list holds at most one here). */
  discounts: Array<{ coupon: string, promotion_code: string | null }>
  currency: string
  client_reference_id: string | null
  metadata: Record<string, string>
  customer_email: string | null
  customer_details: CustomerDetails | null
  /** `requires_location_inputs` while no address is known, `complete` once tax is computed. */
  automatic_tax: { enabled: boolean, liability: null, status: 'requires_location_inputs' | 'complete' | null }
  tax_id_collection: { enabled: boolean, required: 'never' }
  billing_address_collection: 'auto' | 'required' | null
  invoice_creation: { enabled: boolean, invoice_data: InvoiceData }
  /** The paid invoice, with invoice_creation enabled, once the payment succeeded. */
  invoice: string | null
  /** Null for a Payment Link's session: it ends on the link's confirmation page or redirect. */
  success_url: string | null
  cancel_url: string | null
  url: string | null
  payment_intent: string | null
  payment_link: string | null
  created: number
  expires_at: number
  livemode: false
}

/** A name and value shown on the invoice (Stripe's invoice_data[custom_fields], at most 4). */
export interface InvoiceField { name: string, value: string }

export interface InvoiceData {
  account_tax_ids: null
  custom_fields: InvoiceField[] | null
  description: null
  footer: null
  issuer: null
  metadata: Record<string, string>
  rendering_options: null
}

/** A line as it was sold, and (kept current) its share of the discount, its tax and its total. */
export interface LineState {
  id: string
  description: string
  unitAmount: number
  quantity: number
  currency: string
  taxBehavior: TaxBehavior | null
  taxCode: string | null
  amountSubtotal: number
  amountDiscount: number
  amountTax: number
  amountTotal: number
  /** The rate applied, in basis points (0 when none). */
  taxRate: number
}

/** What the buyer typed on the page (or a test passed to pay()) for the tax calculation. */
export interface Buyer {
  address: { country: string, line1: string | null, postal_code: string | null, city: string | null }
  taxId: TaxId | null
  businessName: string | null
}

/** What Stripe keeps about a session beyond the Checkout Session object: its lines, charge and refunds. */
export interface SessionState {
  productName: string
  lines: LineState[]
  buyer: Buyer | null
  /** The code as the buyer typed it, shown on the page next to the discount. */
  promotionCode: string | null
  chargeId: string | null
  amountRefunded: number
  awaitingSettlement: boolean
  settleTimer: NodeJS.Timeout | null
}

/** A Refund object as Stripe answers POST /v1/refunds. */
export interface Refund {
  id: string
  object: 'refund'
  amount: number
  charge: string
  currency: string
  payment_intent: string
  status: 'succeeded'
  reason: string | null
  metadata: Record<string, string>
  created: number
}

/** One validated line of checkout.sessions.create (see params.ts). */
export interface NewLine {
  name: string
  unitAmount: number
  quantity: number
  currency: string
  taxBehavior: TaxBehavior | null
  taxCode: string | null
}

/** A validated checkout.sessions.create request (see params.ts). */
export interface NewSession {
  lines: NewLine[]
  currency: string
  clientReferenceId: string | null
  customerEmail: string | null
  metadata: Record<string, string>
  successUrl: string | null
  cancelUrl: string | null
  allowPromotionCodes: boolean | null
  paymentLink: string | null
  automaticTax?: boolean
  taxIdCollection?: boolean
  billingAddressCollection?: 'auto' | 'required' | null
  invoiceCreation?: { enabled: boolean, metadata: Record<string, string>, customFields: InvoiceField[] | null }
}

export interface InvoiceLine {
  id: string
  object: 'line_item'
  /** The line's amount before discount (and before exclusive tax), as Stripe's invoice lines. */
  amount: number
  currency: string
  description: string
  quantity: number
  unit_amount: number
  discount_amount: number
  taxes: Array<{ amount: number, tax_behavior: TaxBehavior | null, taxable_amount: number, rate_percent: number, taxability_reason: 'standard_rated' | 'reduced_rated' | 'reverse_charge' | 'not_collecting' | 'zero_rated' }>
}

/** A paid Invoice as GET /v1/invoices/:id answers it. */
export interface Invoice {
  id: string
  object: 'invoice'
  /** The seller, as Stripe names the account on its invoices. */
  account_name: string
  account_country: string
  /** The session's invoice_data[custom_fields] (the app puts the seller's tax id there). */
  custom_fields: InvoiceField[] | null
  number: string
  status: 'paid'
  currency: string
  subtotal: number
  /** The discount taken off, as Stripe's total_discount_amounts sums to. */
  total_discount_amounts: Array<{ amount: number, discount: string | null }>
  tax: number
  total: number
  amount_paid: number
  amount_due: number
  customer_email: string | null
  customer_name: string | null
  customer_address: Address
  customer_tax_exempt: 'none' | 'reverse'
  customer_tax_ids: TaxId[]
  lines: { object: 'list', data: InvoiceLine[], has_more: false }
  hosted_invoice_url: string
  invoice_pdf: null
  /** invoice_creation[invoice_data][metadata] of the session. */
  metadata: Record<string, string>
  status_transitions: { finalized_at: number, paid_at: number }
  created: number
  livemode: false
}
