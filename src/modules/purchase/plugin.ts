import fp from 'fastify-plugin'
import { type CartCheckout, createCartCheckout } from './cart-checkout.js'
import { type Checkout, createCheckout } from './checkout.js'
import { createInvoices, type Invoices } from './invoices.js'
import { createOrders, type Orders } from './orders.js'
import type { WebhookOutcome } from './model.js'
import type { Payments } from './providers/contract.js'
import { createRefunds, type Refunds } from './refunds.js'

export type { Checkout, CheckoutStart, Confirmation } from './checkout.js'
export { CART_MAX_LINES, type CartCheckout, type CartLine } from './cart-checkout.js'
export { browserGuest, guestOrders, rememberGuestOrder } from './guest-browser.js'
export type { Invoices } from './invoices.js'
export type { EventOutcome, FulfilResult, OrderEventKind, Orders, RefundFacts } from './orders.js'
export type { WebhookOutcome } from './model.js'
export type { PaymentLinkInfo, Payments, SessionFacts } from './providers/contract.js'
export type { RefundQuote, RefundResult, Refunds } from './refunds.js'
export { claimGuestPurchases, guestAddress, guestEmailUser, guestSessionUser } from './guests.js'

declare module 'fastify' {
  interface FastifyRequest {
    webhookOutcome: WebhookOutcome | null
  }
  interface FastifyInstance {
    /** The payment provider PAYMENT_PROVIDER names: Stripe Checkout or Mollie, one interface (providers/contract.ts). */
    payments: Payments
    /** Orders: the one fulfilment path, webhook events applied once, refunds that revoke access, the timeline. */
    orders: Orders
    /** Starting a purchase (one open checkout per buyer and item) and confirming it on the buyer's return. */
    checkout: Checkout & CartCheckout
    /** The admin's refunds: the provider first, then our order, access and timeline in one transaction. */
    refunds: Refunds
    /** The provider's invoice of an order (Stripe's, with invoices on): its hosted page. */
    invoices: Invoices
  }
}

/**
 * The purchase module: the payment provider, the orders, the checkout and the desk's refunds.
 * Only the chosen provider's client is loaded.
 */
export default fp(async function purchase (app) {
  const { config, database: { db, runner }, settings, users, log } = app
  let payments: Payments
  if (config.paymentProvider === 'mollie') {
    const { createMollieProvider } = await import('./providers/mollie.js')
    payments = createMollieProvider(config.mollie!, config.publicUrl)
  } else {
    const { createStripeProvider } = await import('./providers/stripe.js')
    payments = createStripeProvider(config.stripe!, config.publicUrl)
  }
  const orders = createOrders({ db, runner, log, provider: config.paymentProvider })
  app.decorateRequest('webhookOutcome', null)
  app.decorate<Payments>('payments', payments)
  app.decorate('orders', orders)
  const checkoutDeps = { db, runner, orders, payments, settings, findUser: users.find, publicUrl: config.publicUrl, log }
  app.decorate('checkout', { ...createCheckout(checkoutDeps), ...createCartCheckout(checkoutDeps) })
  app.decorate('refunds', createRefunds({ orders, payments, log }))
  app.decorate('invoices', createInvoices({ db, runner, payments, log }))
}, { name: 'purchase', dependencies: ['database', 'settings', 'users'] })
