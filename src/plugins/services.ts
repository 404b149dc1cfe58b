import { join } from 'node:path'
import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../db/database.js'
import type { Database } from '../db/types.js'
import { type Catalog, createCatalog } from '../services/catalog.js'
import { type Checkout, createCheckout } from '../services/checkout.js'
import { createFileStore, type FileStore, QUARANTINE } from '../services/file-store.js'
import { createOrders, type Orders } from '../services/orders.js'
import { createStripeClient, type Payments } from '../services/payments.js'
import { bindStore } from '../services/store-binding.js'
import { createUsers, type Users } from '../services/users.js'

declare module 'fastify' {
  interface FastifyInstance {
    database: DatabaseHandle
    db: Kysely<Database>
    files: FileStore
    catalog: Catalog
    users: Users
    orders: Orders
    payments: Payments
    checkout: Checkout
  }
}

export default fp(async function services (app) {
  const { config } = app
  // A refused start leaves no trace: a database file this start created is removed again.
  const created = config.databasePath !== ':memory:' && !existsSync(config.databasePath)
  const database = openDatabase(config.databasePath)
  const files = createFileStore(config.contentDir)
  try {
    await migrateToLatest(database.db)
    // Before anything looks at the folder's files: a database beside another store's folder
    // would take all of them for leftovers.
    const binding = await bindStore({ db: database.db, files, databasePath: config.databasePath })
    if (binding !== 'bound') app.log.info({ contentDir: config.contentDir }, binding === 'created' ? 'new content store: database and folder bound by a store id' : 'existing content store adopted: database and folder now share a store id')
  } catch (error) {
    await database.close()
    if (created) await Promise.all(['', '-wal', '-shm'].map(async (suffix) => { await rm(config.databasePath + suffix, { force: true }) }))
    throw error
  }
  app.addHook('onClose', async () => { await database.close() })

  const { db, sync } = database
  const catalog = createCatalog({ db, sync, files, currency: config.currency, maxUploadBytes: config.maxUploadBytes })
  // An upload cut off by a crash leaves a temporary file and no row: nothing refers to it.
  const leftovers = await files.removeTemporary()
  if (leftovers > 0) app.log.warn({ files: leftovers }, 'removed temporary files of interrupted uploads')
  // A crash between renaming an upload into place and committing its row leaves a complete file
  // that no row refers to. Such files are moved aside, never deleted: a person can put one back.
  const swept = await files.sweep(catalog.referencedKeys())
  if (swept.quarantined.length > 0) {
    app.log.warn({ files: swept.quarantined, folder: join(config.contentDir, QUARANTINE) }, 'moved stored files that no row refers to (uploads cut off by a crash) into quarantine')
  }
  if (swept.left.length > 0) {
    app.log.warn({ files: swept.left }, 'stored files that no row refers to were left in place: too recent (an upload may still be committing) or too old to be a crash\'s leftover')
  }
  for (const { slug, key } of await catalog.missingFiles()) {
    app.log.error({ slug, key }, 'a stored file of this item is missing from CONTENT_DIR: its page will say so and /healthz answers degraded')
  }

  app.decorate('database', database)
  app.decorate('db', db)
  app.decorate('files', files)
  app.decorate('users', createUsers({ db, sync, adminEmails: config.adminEmails, sessionDays: config.sessionDays }))
  app.decorate('catalog', catalog)
  const orders = createOrders({ db, sync, log: app.log })
  const payments = createStripeClient(config.stripe)
  app.decorate('orders', orders)
  app.decorate('payments', payments)
  app.decorate('checkout', createCheckout({ orders, payments, publicUrl: config.publicUrl, log: app.log }))
}, { name: 'services' })
