import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest } from './database.js'
import { openConfiguredDatabase } from './open.js'
import type { Database } from './types.js'
import { checkStoreCurrency } from '../modules/settings/store-currency.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
    db: Kysely<Database>
  }
}

/**
 * The database DATABASE_URL names: a SQLite file, or PostgreSQL (several instances share it),
 * migrated to the latest schema (on PostgreSQL the migrator's lock makes instances starting
 * together migrate once), its items priced in STORE_CURRENCY, closed with the app.
 */
export default fp(async function database (app) {
  const { handle } = await openConfiguredDatabase(app.config, { onIdleError: (err) => { app.log.warn({ err }, 'an idle PostgreSQL connection failed') } })
  try {
    await migrateToLatest(handle.db)
    // Before anything sells or a file is looked at: one currency per store.
    await checkStoreCurrency(handle, app.config.currency)
  } catch (error) {
    await handle.discardIfNew()
    throw error
  }
  app.addHook('onClose', async () => { await handle.close() })
  app.decorate('database', handle)
  app.decorate('db', handle.db)
}, { name: 'database' })
