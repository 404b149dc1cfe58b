import fp from 'fastify-plugin'
import { type Audience, createAudience } from './audience.js'

export { type AddressStatus, type Audience, CUSTOMERS_CSV_HEADER } from './audience.js'
export { default as audienceAdminRoutes } from './admin-routes.js'
export { default as audienceRoutes } from './routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Who agreed to hear from the creator, who unsubscribed, the customers list. */
    audience: Audience
  }
}

/** The store's audience: consent, one-click unsubscribe, the customers list, free items by email. */
export default fp(async function audience (app) {
  const { config, database } = app
  app.decorate('audience', createAudience({ db: database.db, runner: database.runner, secret: config.sessionSecret, publicUrl: config.publicUrl, currency: config.currency }))
}, { name: 'audience', dependencies: ['database'] })
