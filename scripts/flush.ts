// npm run flush: deletes development data (content, orders, library, webhook records, stored
// files) and keeps users. Refuses in production.
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { configFromEnvironment } from '../src/env.js'
import { createCatalog } from '../src/services/catalog.js'
import { createFileStore } from '../src/services/file-store.js'

const config = configFromEnvironment()
if (config.production) {
  console.error('Refusing to flush: NODE_ENV is production.')
  process.exit(1)
}
const database = openDatabase(config.databasePath)
try {
  await migrateToLatest(database.db)
  const catalog = createCatalog({ ...database, files: createFileStore(config.contentDir), currency: config.currency, maxUploadBytes: config.maxUploadBytes })
  const removed = await catalog.flush()
  console.log(`Flushed ${removed.content} items and ${removed.files} files from ${config.databasePath}; users kept.`)
} finally {
  await database.close()
}
