import { createMollieClient, MollieApiError, type Payment } from '@mollie/api-client'
import type { MollieConfig } from '../../../config.js'
import { DomainError } from '../../../lib/errors.js'
import { parseAmount, toDecimal } from '../../../lib/money.js'
import type { MollieProvider, PaymentEvent, SessionFacts } from './contract.js'
import { NOT_CONFIRMED } from './stripe.js'

/**
 * The only code that talks to Mollie (the official @mollie/api-client): a payment created before
 * the redirect, read back on the buyer's return and on every webhook, and refunded from the desk.
 * Mollie's webhook says only "payment tr_... changed"; the payment as fetched is the event.
 */
export function createMollieProvider (config: MollieConfig, publicUrl: string): MollieProvider {
  const mollie = createMollieClient({
    apiKey: config.apiKey,
    ...(config.apiUrl === undefined ? {} : { apiEndpoint: config.apiUrl }),
    versionStrings: 'pdf-marketplace/0.1'
  })

  async function fetchPayment (id: string): Promise<Payment | undefined> {
    try {
      return await mollie.payments.get(id)
    } catch (error) {
      if (error instanceof MollieApiError && error.statusCode === 404) return undefined
      throw upstream(error, NOT_CONFIRMED)
    }
  }

  return {
    name: 'mollie',
    // Mollie's hosted page does not ask for an email: a guest types it on our item page.
    collectsEmail: false,
    checkoutOrigins: ['https://www.mollie.com', 'https://checkout.mollie.com', ...(config.checkoutOrigin === undefined ? [] : [config.checkoutOrigin])],

    async createCheckout ({ order, title, lines, customerEmail }) {
      // One payment for the whole order: a cart's titles make its description.
      const description = lines === undefined ? title : lines.map((line) => line.title).join(', ')
      let payment: Payment
      try {
        payment = await mollie.payments.create({
          amount: { currency: order.currency.toUpperCase(), value: toDecimal(order.amount_cents, order.currency) },
          description: description.slice(0, 255),
          redirectUrl: returnUrl(order.id),
          webhookUrl: `${publicUrl}/webhooks/mollie`,
          // The guest's address travels with the payment, as Stripe's customer_details.email does.
          metadata: { order_id: order.id, ...(customerEmail === null ? {} : { email: customerEmail }) },
          idempotencyKey: `checkout-${order.id}`
        })
      } catch (error) {
        throw upstream(error)
      }
      const url = payment.getCheckoutUrl()
      if (url === null) throw new DomainError('upstream', 'The payment provider did not return a payment page. Nothing was charged.')
      return { id: payment.id, url }
    },

    async retrieve (id) {
      const payment = await fetchPayment(id)
      if (payment === undefined) throw new DomainError('not_found', 'We could not find that payment. If you paid, the purchase will appear in your library shortly.')
      return paymentFacts(payment)
    },

    returnUrl: (orderId) => returnUrl(orderId),
    // A Mollie payment has no invoice of Mollie's: the receipt is the seller's record.
    invoiceUrl: async () => null,

    /**
     * A refund of the payment through Mollie: `amount`, or all that is left of it, with the
     * refund's idempotency key so a double click or a retry refunds once. Already refunded in
     * full (from Mollie's dashboard, say): refundId null, the money is back all the same.
     */
    async refund ({ order, amountCents, idempotencyKey }) {
      const id = order.provider_payment_id ?? order.provider_checkout_id
      if (id === null) throw new DomainError('conflict', 'This order has no payment at Mollie to refund.')
      const payment = await fetchPayment(id)
      if (payment === undefined) throw new DomainError('conflict', 'Mollie does not know this order\'s payment, so there is nothing to refund there.')
      const facts = paymentFacts(payment)
      if (facts.refunded === true) return { refundId: null }
      const remaining = payment.amountRemaining ?? payment.amount
      const amount = amountCents === null ? { currency: remaining.currency, value: remaining.value } : { currency: payment.amount.currency, value: toDecimal(amountCents, order.currency) }
      try {
        const refund = await mollie.paymentRefunds.create({
          paymentId: payment.id,
          amount,
          description: `Refund of order ${order.id}`,
          idempotencyKey
        })
        return { refundId: refund.id }
      } catch (error) {
        const said = error instanceof MollieApiError ? ` Mollie said: ${error.message}` : ''
        throw Object.assign(new DomainError('upstream', `The refund did not go through, so nothing was changed.${said} Try again in a moment, or refund it from the Mollie dashboard.`), { cause: String(error) })
      }
    },

    async eventFor (paymentId) {
      const payment = await fetchPayment(paymentId)
      if (payment === undefined) return undefined
      const facts = paymentFacts(payment)
      const refunded = payment.amountRefunded?.value ?? '0'
      // One event per state the payment reaches: a repeated webhook for the same state is a
      // duplicate, a new state (paid, then refunded) a new event.
      const state = facts.refunded === true ? 'refunded' : payment.status
      return { id: `${payment.id}:${payment.status}:${refunded}`, type: `payment.${state}`, event: molliePaymentEvent(`payment.${state}`, facts) }
    }
  }

  function returnUrl (orderId: string): string {
    return `${publicUrl}/checkout/success?order_id=${encodeURIComponent(orderId)}`
  }
}

function minor (amount: { value: string, currency: string } | undefined, fallback: number | null): number | null {
  if (amount === undefined) return fallback
  return parseAmount(amount.value, amount.currency) ?? null
}

/** A Mollie payment as the provider-neutral facts the orders act on. */
export function paymentFacts (payment: Payment): SessionFacts {
  const metadata = typeof payment.metadata === 'object' && payment.metadata !== null ? payment.metadata as Record<string, unknown> : {}
  const total = minor(payment.amount, null)
  const refunded = minor(payment.amountRefunded, 0)
  const status = payment.status as string
  return {
    id: payment.id,
    orderId: typeof metadata.order_id === 'string' ? metadata.order_id : null,
    paymentStatus: status === 'paid' ? 'paid' : 'unpaid',
    amountTotal: total,
    amountSubtotal: total,
    amountDiscount: 0,
    currency: payment.amount.currency.toLowerCase(),
    // Mollie's payment is both the checkout and what is refunded.
    paymentIntent: payment.id,
    customerEmail: typeof metadata.email === 'string' ? metadata.email : null,
    checkoutStatus: status === 'open' ? 'open' : status === 'failed' || status === 'canceled' || status === 'expired' ? 'expired' : 'complete',
    url: payment.getCheckoutUrl(),
    paymentLink: null,
    refunded: total !== null && refunded !== null && refunded > 0 && refunded >= total,
    amountRefunded: refunded ?? 0,
    ended: status === 'failed' || status === 'canceled' ? 'failed' : status === 'expired' ? 'expired' : null
  }
}

function molliePaymentEvent (type: string, facts: SessionFacts): PaymentEvent {
  if (facts.refunded === true) return { type, action: 'refund', paymentIntent: facts.id, refunded: true, amountRefunded: facts.amountRefunded }
  // Part of it refunded: the payment is still paid, and carried along in case its grant is news too.
  if ((facts.amountRefunded ?? 0) > 0 && facts.paymentStatus === 'paid') {
    return { type, action: 'refund', paymentIntent: facts.id, refunded: false, amountRefunded: facts.amountRefunded, session: facts }
  }
  if (facts.ended === 'failed') return { type, action: 'fail', session: facts }
  if (facts.ended === 'expired') return { type, action: 'expire', session: facts }
  // paid grants; open, pending and authorized are still settling.
  return { type, action: 'complete', session: facts }
}

const NOT_CHARGED = 'The payment provider could not be reached. Nothing was charged; please try again in a moment.'

function upstream (error: unknown, forPerson = NOT_CHARGED): DomainError {
  return Object.assign(new DomainError('upstream', forPerson), { cause: error instanceof Error ? error.message : String(error) })
}
