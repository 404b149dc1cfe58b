// npm run migrate: applies pending migrations to DATABASE_URL and says what it did.
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { configFromEnvironment } from '../src/env.js'

const config = configFromEnvironment()
const database = openDatabase(config.databasePath)
try {
  const { results = [] } = await migrateToLatest(database.db)
  if (results.length === 0) console.log(`${config.databasePath}: already up to date`)
  for (const result of results) console.log(`${config.databasePath}: ${result.migrationName} ${result.status}`)
} finally {
  await database.close()
}
