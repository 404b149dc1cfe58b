/**
 * The provider contract: what the purchase module asks of a payment provider and the
 * provider-neutral facts and events it gets back. Stripe and Mollie implement it (stripe.ts,
 * mollie.ts); the rest of the module reads only these types.
 */
import type { Order, PaymentProviderName, TaxBehavior } from '../../../db/types.js'

/**
 * What we need to know of a checkout (a Stripe Checkout Session, a Mollie payment), whichever
 * path (redirect or webhook) brought it. The providers (stripe.ts, mollie.ts beside this file) make it.
 */
export interface SessionFacts {
  id: string
  /** Our order id: client_reference_id, or metadata.order_id. */
  orderId: string | null
  paymentStatus: 'paid' | 'unpaid' | 'no_payment_required'
  amountTotal: number | null
  /** Before discounts: what the order is for. Absent: equal to amountTotal. */
  amountSubtotal?: number | null
  /** What a promotion code took off (Stripe's total_details.amount_discount). */
  amountDiscount?: number
  /** The tax in the total (Stripe Tax's total_details.amount_tax); absent: none computed. */
  amountTax?: number
  /** The billing address's country (customer_details.address.country), when collected. */
  customerCountry?: string | null
  /** The buyer's tax ids (customer_details.tax_ids), when they gave any. */
  customerTaxIds?: Array<{ type: string, value: string }>
  /** The provider's invoice for the payment (Stripe's session.invoice), when it made one. */
  invoiceId?: string | null
  currency: string | null
  paymentIntent: string | null
  /** The buyer's address as Stripe collected it (customer_details.email): a guest's only name. */
  customerEmail?: string | null
  /** 'complete' once the buyer finished Checkout; 'open' while they have not (yet). */
  checkoutStatus?: 'open' | 'complete' | 'expired' | null
  /** The hosted Checkout page, while the session is open. */
  url?: string | null
  /** The Stripe Payment Link that made the session (then it has no order id of ours). */
  paymentLink?: string | null
  /** The payment was refunded in full (Mollie's amountRefunded equals its amount). */
  refunded?: boolean
  /** How much of the payment has been refunded so far, in minor units (Mollie's amountRefunded). */
  amountRefunded?: number
  /** The payment ended unpaid: failed (or canceled), or expired. */
  ended?: 'failed' | 'expired' | null
}

/**
 * What a provider's event asks of an order (anything else is acknowledged and ignored); `type`
 * is the provider's own name for it, for the timeline.
 */
export type PaymentEvent =
  | { type: string, action: 'complete', session: SessionFacts }
  | { type: string, action: 'fail' | 'expire', session: SessionFacts }
  | { type: string, action: 'refund', paymentIntent: string | null, refunded: boolean, amountRefunded?: number | null, session?: SessionFacts }

/**
 * A refund as the provider tells of it: `refunded` when all of the payment went back;
 * `amountRefunded`, how much has gone back in all (Stripe's amount_refunded, Mollie's
 * amountRefunded), when it says; `session`, the payment as a checkout when the provider's refund
 * event is also all there is to learn that it was paid (Mollie's payment is both).
 */
export type RefundEvent = Extract<PaymentEvent, { action: 'refund' }>

/** What opening a hosted payment page needs: our pending order, at the amount it is for. */
export interface CheckoutRequest {
  order: Order
  /** The item's title: the line the buyer sees on the provider's page and statement. */
  title: string
  /**
   * A cart's lines (two or more, adding up to the order's amount), each shown as a line of its
   * own where the provider has lines (Stripe); absent: one line, `title` at the order's amount.
   */
  lines?: Array<{ title: string, amountCents: number }>
  /** The buyer's address when we know it (signed in, or typed on our page); else the provider collects it. */
  customerEmail: string | null
  /** The store lets buyers type a promotion code (providers that have them). */
  allowPromotionCodes: boolean
  /** Where "back" on the provider's page goes. */
  cancelUrl: string
  /**
   * Tax computed by the provider (Stripe Tax), the price sent as the order's tax_behavior says,
   * under this product tax code; null: charge the amount as it is (no automatic tax).
   */
  tax: { behavior: TaxBehavior, code: string } | null
  /**
   * The provider makes an invoice for the payment (Stripe's invoice_creation), carrying the
   * seller's tax id when the store has one; null: no invoice.
   */
  invoice: { sellerTaxId: string | null } | null
}

/** A refund the desk asks of the provider. */
export interface RefundRequest {
  order: Order
  /** How much to refund, in minor units; null: all that is left of the payment. */
  amountCents: number | null
  /** One per refund: the same refund asked again (a double click, a retry) is made once. */
  idempotencyKey: string
}

/** A payment as a webhook tells of it: an id to record it under exactly once, and what to do. */
export interface VerifiedEvent {
  id: string
  type: string
  event: PaymentEvent | null
}

/** A Stripe Payment Link as an admin stores it on an item. */
export interface PaymentLinkInfo {
  id: string
  url: string
  active: boolean
}

/**
 * The payment provider, as the routes, the checkout, the refunds and the desk see it. Stripe and
 * Mollie stand behind it (stripe.ts, mollie.ts); nothing outside those
 * two files knows either's shapes. Facts come back as SessionFacts, events as PaymentEvents.
 */
interface ProviderBase {
  readonly name: PaymentProviderName
  /** The provider's hosted page collects the buyer's email (Stripe Checkout does; Mollie does not). */
  readonly collectsEmail: boolean
  /** Origins the buyer's browser is sent to for paying (the CSP's form-action must allow them). */
  readonly checkoutOrigins: string[]
  /** Opens the hosted payment page for a pending order: its id (what the order records) and URL. */
  createCheckout (request: CheckoutRequest): Promise<{ id: string, url: string }>
  /** The payment as the provider has it now: the success redirect and a resumed Buy read it. */
  retrieve (id: string): Promise<SessionFacts>
  /** Our page the buyer comes back to after paying for this order through this checkout. */
  returnUrl (orderId: string, checkoutId: string): string
  /** A refund of the order's payment; refundId null when the provider says it was already refunded in full. */
  refund (request: RefundRequest): Promise<{ refundId: string | null }>
  /** The hosted page of the provider's invoice (Stripe's hosted_invoice_url); null when it has none. */
  invoiceUrl (invoiceId: string): Promise<string | null>
}

export interface StripeProvider extends ProviderBase {
  readonly name: 'stripe'
  /** Verifies a webhook's signature and reduces the event to what we act on. */
  verifyEvent (rawBody: Buffer, signature: string): VerifiedEvent
  /** A Payment Link by id, to store on an item; undefined when Stripe does not know it. */
  paymentLink (id: string): Promise<PaymentLinkInfo | undefined>
}

export interface MollieProvider extends ProviderBase {
  readonly name: 'mollie'
  /**
   * Mollie's webhook carries only a payment id and no signature: the payment is fetched and its
   * current state becomes the event. undefined for an id Mollie does not know (for this key).
   */
  eventFor (paymentId: string): Promise<VerifiedEvent | undefined>
}

export type Payments = StripeProvider | MollieProvider
