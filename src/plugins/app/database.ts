import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../db/database.js'
import type { Database } from '../../db/types.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
    db: Kysely<Database>
  }
}

/** The SQLite database, migrated to the latest schema, closed with the app. */
export default fp(async function database (app) {
  // PostgreSQL (src/db/postgres.ts) is chosen here once the services run on the async Runner.
  if (app.config.database.kind === 'postgres') throw new Error('DATABASE_URL=postgres://... needs the services on the async Runner: not wired yet')
  const handle = openDatabase(app.config.databasePath)
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
