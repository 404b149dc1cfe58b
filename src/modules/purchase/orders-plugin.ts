import fp from 'fastify-plugin'
import { createOrders, type Orders } from './orders.js'

declare module 'fastify' {
  interface FastifyInstance {
    orders: Orders
  }
}

/** Orders, their one fulfilment function and the webhook events applied to them. */
export default fp(async function orders (app) {
  app.decorate('orders', createOrders({ db: app.database.db, runner: app.database.runner, log: app.log, provider: app.config.paymentProvider }))
}, { name: 'orders', dependencies: ['database'] })
