// npm run migrate: applies pending migrations to DATABASE_URL and says what it did.
import { migrateToLatest } from '../src/db/database.js'
import { openConfiguredDatabase } from '../src/db/open.js'
import { configFromEnvironment } from '../src/env.js'

const config = configFromEnvironment()
// With PostgreSQL, several instances may run this at once: the migrator's lock lets one migrate.
const { handle, name: where } = await openConfiguredDatabase(config)
try {
  const { results = [] } = await migrateToLatest(handle.db)
  if (results.length === 0) console.log(`${where}: already up to date`)
  for (const result of results) console.log(`${where}: ${result.migrationName} ${result.status}`)
} finally {
  await handle.close()
}
