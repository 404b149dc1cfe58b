import fp from 'fastify-plugin'
import { createStripeClient, type Payments } from '../../services/payments.js'

declare module 'fastify' {
  interface FastifyInstance {
    payments: Payments
  }
}

/** The only code that talks to Stripe. */
export default fp(async function payments (app) {
  app.decorate('payments', createStripeClient(app.config.stripe))
}, { name: 'payments' })
