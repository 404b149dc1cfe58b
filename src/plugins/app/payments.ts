import fp from 'fastify-plugin'
import type { Payments } from '../../services/payments.js'

declare module 'fastify' {
  interface FastifyInstance {
    payments: Payments
  }
}

/**
 * The payment provider PAYMENT_PROVIDER names: Stripe Checkout or Mollie, one interface
 * (src/services/payments.ts). Only the chosen provider's client is loaded.
 */
export default fp(async function payments (app) {
  const { config } = app
  if (config.paymentProvider === 'mollie') {
    const { createMollieProvider } = await import('../../services/mollie.js')
    app.decorate('payments', createMollieProvider(config.mollie!, config.publicUrl))
  } else {
    const { createStripeProvider } = await import('../../services/stripe.js')
    app.decorate('payments', createStripeProvider(config.stripe!, config.publicUrl))
  }
}, { name: 'payments' })
