import fp from 'fastify-plugin'
import { type Catalog, createCatalog } from './catalog.js'

export { type Catalog, type CatalogItem, type CatalogPage, type CatalogSort, ftsQuery, PAGE_SIZE, SORTS } from './catalog.js'

declare module 'fastify' {
  interface FastifyInstance {
    catalog: Catalog
  }
}

/** The items for sale as visitors see them: pages, search, and who may see or download what. */
export default fp(async function catalog (app) {
  const { database } = app
  app.decorate('catalog', createCatalog({ db: database.db, runner: database.runner, changeStamp: database.changeStamp }))
}, { name: 'catalog', dependencies: ['database'] })
