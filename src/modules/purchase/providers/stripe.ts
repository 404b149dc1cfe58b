import Stripe from 'stripe'
import type { StripeConfig } from '../../../config.js'
import { DomainError } from '../../../lib/errors.js'
import type { CheckoutRequest, PaymentEvent, PaymentLinkInfo, SessionFacts, StripeProvider } from './contract.js'

/**
 * The SDK's options for STRIPE_API_URL (a Stripe-compatible server: stripe-mock, the demo
 * emulator; same SDK, other host) on top of `base`; the app and `npm run doctor` both use them.
 */
export function stripeOptions (config: StripeConfig, base: Stripe.StripeConfig): Stripe.StripeConfig {
  if (config.apiUrl === undefined) return base
  const url = new URL(config.apiUrl)
  return {
    ...base,
    protocol: url.protocol === 'http:' ? 'http' : 'https',
    host: url.hostname,
    port: url.port === '' ? (url.protocol === 'http:' ? 80 : 443) : Number(url.port)
  }
}

/**
 * The only code that talks to Stripe (the official SDK): Checkout Sessions, refunds, Payment
 * Links read for the desk, and webhook verification.
 */
export function createStripeProvider (config: StripeConfig, publicUrl: string): StripeProvider {
  const stripe = new Stripe(config.secretKey, stripeOptions(config, { maxNetworkRetries: 2, timeout: 20_000, appInfo: { name: 'pdf-marketplace' } }))
  const successUrl = `${publicUrl}/checkout/success?session_id=`

  return {
    name: 'stripe',
    collectsEmail: true,
    checkoutOrigins: [config.apiUrl === undefined ? 'https://checkout.stripe.com' : new URL(config.apiUrl).origin],

    async createCheckout (request) {
      let session: Stripe.Checkout.Session
      try {
        session = await stripe.checkout.sessions.create(sessionParams(request, successUrl), { idempotencyKey: `checkout-${request.order.id}` })
      } catch (error) {
        throw upstream(error)
      }
      if (session.url === null) throw new DomainError('upstream', 'The payment provider did not return a checkout page. Nothing was charged.')
      return { id: session.id, url: session.url }
    },

    async retrieve (id) {
      try {
        return sessionFacts(await stripe.checkout.sessions.retrieve(id))
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) {
          throw new DomainError('not_found', 'We could not find that checkout. If you paid, the purchase will appear in your library shortly.')
        }
        throw upstream(error, NOT_CONFIRMED)
      }
    },

    returnUrl (_orderId, checkoutId) {
      return successUrl + encodeURIComponent(checkoutId)
    },

    /**
     * A refund of the order's payment, for the admin's Refund button: `amount` for part of it,
     * none for all that is left. The idempotency key is the refund's, so a double click or a
     * retry refunds once. `refundId` is null when Stripe says the charge was already refunded
     * in full (from its dashboard, say): the money is back all the same.
     */
    async refund ({ order, amountCents, idempotencyKey }) {
      if (order.provider_payment_id === null) throw new DomainError('conflict', 'This order has no payment at Stripe to refund.')
      try {
        const refund = await stripe.refunds.create({ payment_intent: order.provider_payment_id, ...(amountCents === null ? {} : { amount: amountCents }) }, { idempotencyKey })
        return { refundId: refund.id }
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.code === 'charge_already_refunded') return { refundId: null }
        const said = error instanceof Stripe.errors.StripeError ? ` Stripe said: ${error.message}` : ''
        throw Object.assign(new DomainError('upstream', `The refund did not go through, so nothing was changed.${said} Try again in a moment, or refund it from the Stripe dashboard.`), { cause: String(error) })
      }
    },

    async invoiceUrl (invoiceId) {
      try {
        return (await stripe.invoices.retrieve(invoiceId)).hosted_invoice_url ?? null
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return null
        throw upstream(error, 'Stripe could not be reached for the invoice just now. Try again in a moment.')
      }
    },

    async paymentLink (id): Promise<PaymentLinkInfo | undefined> {
      try {
        const link = await stripe.paymentLinks.retrieve(id)
        return { id: link.id, url: link.url, active: link.active }
      } catch (error) {
        if (error instanceof Stripe.errors.StripeInvalidRequestError && error.statusCode === 404) return undefined
        throw upstream(error, 'Stripe could not be reached to check this Payment Link. Nothing was changed; try again in a moment.')
      }
    },

    /** Verifies the signature (default 300 s tolerance) and reduces the event to what we act on. */
    verifyEvent (rawBody, signature) {
      const event = stripe.webhooks.constructEvent(rawBody, signature, config.webhookSecret) as unknown as Stripe.Event
      // A correctly signed body that is not an event is still refused.
      if (!isRecord(event) || typeof event.id !== 'string' || typeof event.type !== 'string' || !isRecord(event.data) || !isRecord(event.data.object)) {
        throw new Error('the signed body is not a Stripe event')
      }
      return { id: event.id, type: event.type, event: paymentEvent(event) }
    }
  }
}

/** The Checkout Session for a pending order: its one line at the order's amount, and the store's tax and invoice asks. */
function sessionParams ({ order, title, lines, customerEmail, allowPromotionCodes, cancelUrl, tax, invoice }: CheckoutRequest, successUrl: string): Stripe.Checkout.SessionCreateParams {
  return {
    mode: 'payment',
    // One line item per line of the order (a cart's), each taxed on its own.
    line_items: (lines ?? [{ title, amountCents: order.amount_cents }]).map((line) => ({
      quantity: 1,
      price_data: {
        currency: order.currency,
        unit_amount: line.amountCents,
        product_data: { name: line.title, ...(tax === null ? {} : { tax_code: tax.code }) },
        ...(tax === null ? {} : { tax_behavior: tax.behavior })
      }
    })),
    client_reference_id: order.id,
    metadata: { order_id: order.id },
    ...(customerEmail === null ? {} : { customer_email: customerEmail }),
    ...(allowPromotionCodes ? { allow_promotion_codes: true } : {}),
    // Stripe Tax: the buyer's billing address says where the sale is taxed; a business buyer may
    // give a tax id (a reverse charge in the EU).
    ...(tax === null ? {} : { automatic_tax: { enabled: true }, tax_id_collection: { enabled: true }, billing_address_collection: 'required' as const }),
    // The invoice names the seller's tax id (a business buyer's reverse charge needs both).
    ...(invoice === null
      ? {}
      : {
          invoice_creation: {
            enabled: true,
            ...(invoice.sellerTaxId === null ? {} : { invoice_data: { custom_fields: [{ name: 'Seller tax id', value: invoice.sellerTaxId }] } })
          }
        }),
    success_url: `${successUrl}{CHECKOUT_SESSION_ID}`,
    cancel_url: cancelUrl
  }
}

const NOT_CHARGED = 'The payment provider could not be reached. Nothing was charged; please try again in a moment.'
// On the way back from Stripe the buyer has usually paid: saying "nothing was charged" would be false.
export const NOT_CONFIRMED = 'We could not confirm your payment with the payment provider just now. Reload this page in a moment; if you paid, the purchase will also appear in your library by itself.'

function upstream (error: unknown, forPerson = NOT_CHARGED): DomainError {
  const message = error instanceof Stripe.errors.StripeError ? error.message : String(error)
  return Object.assign(new DomainError('upstream', forPerson), { cause: message })
}

function checkoutStatus (status: string | null): SessionFacts['checkoutStatus'] {
  return status === 'open' || status === 'complete' || status === 'expired' ? status : null
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function idOf (value: string | { id: string } | null | undefined): string | null {
  if (value === null || value === undefined) return null
  return typeof value === 'string' ? value : value.id
}

export function sessionFacts (session: Stripe.Checkout.Session): SessionFacts {
  return {
    id: session.id,
    orderId: session.client_reference_id ?? session.metadata?.order_id ?? null,
    paymentStatus: session.payment_status === 'paid' ? 'paid' : session.payment_status === 'no_payment_required' ? 'no_payment_required' : 'unpaid',
    amountTotal: session.amount_total,
    amountSubtotal: session.amount_subtotal ?? null,
    amountDiscount: session.total_details?.amount_discount ?? 0,
    amountTax: session.total_details?.amount_tax ?? 0,
    customerCountry: session.customer_details?.address?.country ?? null,
    customerTaxIds: (session.customer_details?.tax_ids ?? []).map((id) => ({ type: id.type, value: id.value ?? '' })).filter((id) => id.value !== ''),
    invoiceId: idOf(session.invoice),
    currency: session.currency,
    paymentIntent: idOf(session.payment_intent),
    customerEmail: session.customer_details?.email ?? null,
    checkoutStatus: checkoutStatus(session.status),
    url: session.url ?? null,
    paymentLink: idOf(session.payment_link)
  }
}

function paymentEvent (event: Stripe.Event): PaymentEvent | null {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded':
      return { type: event.type, action: 'complete', session: sessionFacts(event.data.object) }
    case 'checkout.session.async_payment_failed':
      return { type: event.type, action: 'fail', session: sessionFacts(event.data.object) }
    case 'checkout.session.expired':
      return { type: event.type, action: 'expire', session: sessionFacts(event.data.object) }
    case 'charge.refunded': {
      const charge = event.data.object
      const amountRefunded = Number.isSafeInteger(charge.amount_refunded) ? charge.amount_refunded : null
      return { type: event.type, action: 'refund', paymentIntent: idOf(charge.payment_intent), refunded: charge.refunded === true, amountRefunded }
    }
    default:
      return null
  }
}
