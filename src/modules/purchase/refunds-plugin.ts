import fp from 'fastify-plugin'
import { createRefunds, type Refunds } from './refunds.js'

declare module 'fastify' {
  interface FastifyInstance {
    refunds: Refunds
  }
}

/** The admin's refunds: Stripe first, then our order, access and timeline in one transaction. */
export default fp(async function refunds (app) {
  app.decorate('refunds', createRefunds({ orders: app.orders, payments: app.payments, log: app.log }))
}, { name: 'refunds', dependencies: ['orders', 'payments'] })
