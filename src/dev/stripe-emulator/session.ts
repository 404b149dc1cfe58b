// A new Checkout Session object as Stripe answers checkout.sessions.create, and its lines as the
// emulator keeps them (the totals are filled in by Payments.recompute).
import { nowSec, randomId } from './ids.js'
import type { CheckoutSession, LineState, NewSession } from './types.js'

const SESSION_TTL_SEC = 24 * 60 * 60

export function sessionObject (id: string, input: NewSession, url: string): CheckoutSession {
  const created = nowSec()
  const amount = input.lines.reduce((sum, line) => sum + line.unitAmount * line.quantity, 0)
  const automaticTax = input.automaticTax === true
  return {
    id,
    object: 'checkout.session',
    mode: 'payment',
    status: 'open',
    payment_status: 'unpaid',
    allow_promotion_codes: input.allowPromotionCodes,
    amount_subtotal: amount,
    amount_total: amount,
    total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
    discounts: [],
    currency: input.currency,
    client_reference_id: input.clientReferenceId,
    metadata: input.metadata,
    customer_email: input.customerEmail,
    customer_details: null,
    automatic_tax: { enabled: automaticTax, liability: null, status: automaticTax ? 'requires_location_inputs' : null },
    tax_id_collection: { enabled: input.taxIdCollection === true, required: 'never' },
    billing_address_collection: input.billingAddressCollection ?? null,
    invoice_creation: {
      enabled: input.invoiceCreation?.enabled === true,
      invoice_data: { account_tax_ids: null, custom_fields: input.invoiceCreation?.customFields ?? null, description: null, footer: null, issuer: null, metadata: input.invoiceCreation?.metadata ?? {}, rendering_options: null }
    },
    invoice: null,
    success_url: input.successUrl,
    cancel_url: input.cancelUrl,
    url,
    payment_intent: null,
    payment_link: input.paymentLink,
    created,
    expires_at: created + SESSION_TTL_SEC,
    livemode: false
  }
}

export function lineStates (input: NewSession): LineState[] {
  return input.lines.map((line) => ({
    id: randomId('li_'),
    description: line.name,
    unitAmount: line.unitAmount,
    quantity: line.quantity,
    currency: line.currency,
    taxBehavior: line.taxBehavior,
    taxCode: line.taxCode,
    amountSubtotal: line.unitAmount * line.quantity,
    amountDiscount: 0,
    amountTax: 0,
    amountTotal: line.unitAmount * line.quantity,
    taxRate: 0
  }))
}
