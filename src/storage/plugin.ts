import fp from 'fastify-plugin'
import { uploadAllowanceMs } from '../config.js'
import { openStore } from './open.js'
import type { Store } from './store.js'
import { bindStore } from './binding.js'

declare module 'fastify' {
  interface FastifyInstance {
    files: Store
  }
}

/**
 * The file store STORAGE_URL names (the content folder, or an S3-compatible bucket), bound to the
 * database by a store id before anything looks at its files: a database beside another store's
 * folder would take all of them for leftovers.
 */
export default fp(async function files (app) {
  const { config, database } = app
  const store = await openStore(config.storage, {
    uploadAllowanceMs: uploadAllowanceMs(config),
    // Said once, at start, in place of the AWS SDK's own multi-line warning on stderr.
    notice: (message) => { app.log.warn(message) }
  })
  try {
    const binding = await bindStore({ db: database.db, files: store, databasePath: config.database.kind === 'postgres' ? config.database.display : config.databasePath })
    if (binding !== 'bound') {
      app.log.info({ store: store.location }, binding === 'created'
        ? 'new content store: database and file store bound by a store id'
        : 'existing content store adopted: database and file store now share a store id')
    }
  } catch (error) {
    await store.close()
    await database.discardIfNew()
    throw error
  }
  app.addHook('onClose', async () => { await store.close() })
  app.decorate<Store>('files', store)
}, { name: 'files', dependencies: ['database'] })
