// npm run migrate: applies pending migrations to DATABASE_URL and says what it did.
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { openPostgres } from '../src/db/postgres.js'
import { configFromEnvironment } from '../src/env.js'

const config = configFromEnvironment()
const { database } = config
// With PostgreSQL, several instances may run this at once: the migrator's lock lets one migrate.
const handle = database.kind === 'postgres' ? openPostgres(database.url) : openDatabase(database.path)
const where = database.kind === 'postgres' ? database.display : database.path
try {
  const { results = [] } = await migrateToLatest(handle.db)
  if (results.length === 0) console.log(`${where}: already up to date`)
  for (const result of results) console.log(`${where}: ${result.migrationName} ${result.status}`)
} finally {
  await handle.close()
}
