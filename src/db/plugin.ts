import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest } from './database.js'
import { openConfiguredDatabase } from './open.js'
import type { Database } from './types.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
    db: Kysely<Database>
  }
}

export interface DatabaseOptions {
  /**
   * Checks of the migrated database before anything else uses it (app.ts: its items priced in
   * STORE_CURRENCY); one that throws refuses the start, and a database this start created is removed.
   */
  checks?: Array<(handle: DatabaseHandle) => Promise<void>>
}

/**
 * The database DATABASE_URL names: a SQLite file, or PostgreSQL (several instances share it),
 * migrated to the latest schema (on PostgreSQL the migrator's lock makes instances starting
 * together migrate once), checked, closed with the app.
 */
export default fp<DatabaseOptions>(async function database (app, options) {
  const { handle } = await openConfiguredDatabase(app.config, { onIdleError: (err) => { app.log.warn({ err }, 'an idle PostgreSQL connection failed') } })
  try {
    await migrateToLatest(handle.db)
    for (const check of options.checks ?? []) await check(handle)
  } catch (error) {
    await handle.discardIfNew()
    throw error
  }
  app.addHook('onClose', async () => { await handle.close() })
  app.decorate('database', handle)
  app.decorate('db', handle.db)
}, { name: 'database' })
