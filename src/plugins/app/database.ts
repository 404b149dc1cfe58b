import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest } from '../../db/database.js'
import { openConfiguredDatabase } from '../../db/open.js'
import type { Database } from '../../db/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
    db: Kysely<Database>
  }
}

/**
 * The database DATABASE_URL names: a SQLite file, or PostgreSQL (several instances share it),
 * migrated to the latest schema (on PostgreSQL the migrator's lock makes instances starting
 * together migrate once), closed with the app.
 */
export default fp(async function database (app) {
  const { handle } = await openConfiguredDatabase(app.config, { onIdleError: (err) => { app.log.warn({ err }, 'an idle PostgreSQL connection failed') } })
  try {
    await migrateToLatest(handle.db)
  } catch (error) {
    await handle.discardIfNew()
    throw error
  }
  app.addHook('onClose', async () => { await handle.close() })
  app.decorate('database', handle)
  app.decorate('db', handle.db)
}, { name: 'database' })
