import fp from 'fastify-plugin'
import { type Catalog, createCatalog } from './catalog.js'

declare module 'fastify' {
  interface FastifyInstance {
    catalog: Catalog
  }
}

/** The items for sale and their files; at start, the store's leftovers and gaps are reported. */
export default fp(async function catalog (app) {
  const { config, database, files } = app
  const service = createCatalog({ db: database.db, runner: database.runner, changeStamp: database.changeStamp, files, currency: config.currency, maxUploadBytes: config.maxUploadBytes })
  const found = await service.reconcile()
  if (found.temporary > 0) app.log.warn({ files: found.temporary }, 'removed temporary files of interrupted uploads')
  for (const { slug, key } of found.missing) {
    app.log.error({ slug, key }, 'a stored file of this item is missing from CONTENT_DIR: its page will say so and /healthz answers degraded')
  }
  app.decorate('catalog', service)
}, { name: 'catalog', dependencies: ['database', 'files'] })
