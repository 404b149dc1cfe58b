import fp from 'fastify-plugin'
import { type Checkout, createCheckout } from './checkout.js'

declare module 'fastify' {
  interface FastifyInstance {
    checkout: Checkout
  }
}

/** Starting a purchase: one open checkout per buyer and item. */
export default fp(async function checkout (app) {
  const { database, orders, payments, settings, users, config } = app
  app.decorate('checkout', createCheckout({ db: database.db, runner: database.runner, orders, payments, settings, findUser: users.find, publicUrl: config.publicUrl, log: app.log }))
}, { name: 'checkout', dependencies: ['database', 'orders', 'payments', 'settings', 'users'] })
