// npm run flush: deletes development data (content, orders, library, webhook records, stored
// files) and keeps users. Refuses in production.
import { ConfigError, uploadAllowanceMs } from '../src/config.js'
import { migrateToLatest } from '../src/db/database.js'
import { openConfiguredDatabase } from '../src/db/open.js'
import { configFromEnvironment } from '../src/env.js'
import { createItems } from '../src/modules/items/items.js'
import { openStore } from '../src/storage/open.js'
import { bindStore } from '../src/storage/binding.js'

const config = configFromEnvironment()
if (config.production) {
  console.error('Refusing to flush: NODE_ENV is production.')
  process.exit(1)
}
const { handle: database, name } = await openConfiguredDatabase(config)
let refused: ConfigError | undefined
const files = await openStore(config.storage, { uploadAllowanceMs: uploadAllowanceMs(config) })
try {
  await migrateToLatest(database.db)
  // Flush deletes every stored file of the store: only when the store is this database's.
  refused = await bindStore({ db: database.db, files, databasePath: name })
    .then(() => undefined, (error: unknown) => { if (error instanceof ConfigError) return error; throw error })
  if (refused === undefined) {
    const items = createItems({ ...database, files, currency: config.currency, maxUploadBytes: config.maxUploadBytes })
    const removed = await items.flush()
    console.log(`Flushed ${removed.content} items and ${removed.files} files from ${name}; users kept.`)
  }
} finally {
  await files.close()
  await database.close()
}
if (refused !== undefined) {
  console.error(`Configuration error: ${refused.message} Nothing was flushed.`)
  process.exit(1)
}
