import fp from 'fastify-plugin'
import type { Payments } from './contract.js'

declare module 'fastify' {
  interface FastifyInstance {
    payments: Payments
  }
}

/**
 * The payment provider PAYMENT_PROVIDER names: Stripe Checkout or Mollie, one interface
 * (src/modules/purchase/providers/index.ts). Only the chosen provider's client is loaded.
 */
export default fp(async function payments (app) {
  const { config } = app
  if (config.paymentProvider === 'mollie') {
    const { createMollieProvider } = await import('./mollie.js')
    app.decorate('payments', createMollieProvider(config.mollie!, config.publicUrl))
  } else {
    const { createStripeProvider } = await import('./stripe.js')
    app.decorate('payments', createStripeProvider(config.stripe!, config.publicUrl))
  }
}, { name: 'payments' })
