import fp from 'fastify-plugin'
import { createSettings, type Settings } from './settings.js'

/** The settings form: registered under /admin, behind its guard. */
export { default as settingsRoutes } from './routes.js'
export { EMAIL, type Settings, type StoreSettings } from './settings.js'
export { DEFAULT_TAX, EBOOK_TAX_CODE, type TaxSettings } from './tax.js'

declare module 'fastify' {
  interface FastifyInstance {
    settings: Settings
  }
}

/** The store's name, tagline, contact and policy: read at start, kept in memory, replaced on save. */
export default fp(async function settings (app) {
  const { database } = app
  app.decorate('settings', await createSettings({ db: database.db, runner: database.runner }))
}, { name: 'settings', dependencies: ['database'] })
