import fp from 'fastify-plugin'
import { createSales, type Sales } from './sales.js'

export { saleFigures } from './sale-figures.js'

declare module 'fastify' {
  interface FastifyInstance {
    sales: Sales
  }
}

/** The creator's view of the money: dashboard figures, orders, customers, the CSV export. */
export default fp(async function sales (app) {
  app.decorate('sales', createSales({ db: app.database.db, runner: app.database.runner, currency: app.config.currency }))
}, { name: 'sales', dependencies: ['database'] })
