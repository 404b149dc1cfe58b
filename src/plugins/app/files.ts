import fp from 'fastify-plugin'
import { createFileStore, type FileStore } from '../../services/file-store.js'
import { bindStore } from '../../services/store-binding.js'

declare module 'fastify' {
  interface FastifyInstance {
    files: FileStore
  }
}

/**
 * The content folder, bound to the database by a store id before anything looks at its files:
 * a database beside another store's folder would take all of them for leftovers.
 */
export default fp(async function files (app) {
  const { config, database } = app
  const store = createFileStore(config.contentDir)
  try {
    const binding = await bindStore({ db: database.db, files: store, databasePath: config.databasePath })
    if (binding !== 'bound') {
      app.log.info({ contentDir: config.contentDir }, binding === 'created'
        ? 'new content store: database and folder bound by a store id'
        : 'existing content store adopted: database and folder now share a store id')
    }
  } catch (error) {
    await database.discardIfNew()
    throw error
  }
  app.decorate('files', store)
}, { name: 'files', dependencies: ['database'] })
