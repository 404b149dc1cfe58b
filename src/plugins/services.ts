import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../db/database.js'
import type { Database } from '../db/types.js'
import { type Catalog, createCatalog } from '../services/catalog.js'
import { type Checkout, createCheckout } from '../services/checkout.js'
import { createFileStore, type FileStore } from '../services/file-store.js'
import { createOrders, type Orders } from '../services/orders.js'
import { createStripeClient, type Payments } from '../services/payments.js'
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
  const database = openDatabase(config.databasePath)
  app.addHook('onClose', async () => { await database.close() })
  await migrateToLatest(database.db)

  const files = createFileStore(config.contentDir)
  // An upload cut off by a crash leaves a temporary file and no row: nothing refers to it.
  const leftovers = await files.removeTemporary()
  if (leftovers > 0) app.log.warn({ files: leftovers }, 'removed temporary files of interrupted uploads')
  // A crash between renaming an upload into place and committing its row leaves a complete file
  // that no row refers to. At start no upload is running, so such a file can only be that.
  const rows = await database.db.selectFrom('content').select(['file_key', 'preview_key']).execute()
  const orphans = await files.removeOrphans(new Set(rows.flatMap((row) => [row.file_key, row.preview_key])))
  if (orphans.length > 0) app.log.warn({ files: orphans }, 'removed stored files of uploads whose row was never committed')

  const { db, sync } = database
  app.decorate('database', database)
  app.decorate('db', db)
  app.decorate('files', files)
  app.decorate('users', createUsers({ db, sync, adminEmails: config.adminEmails, sessionDays: config.sessionDays }))
  app.decorate('catalog', createCatalog({ db, sync, files, currency: config.currency, maxUploadBytes: config.maxUploadBytes }))
  const orders = createOrders({ db, sync, log: app.log })
  const payments = createStripeClient(config.stripe)
  app.decorate('orders', orders)
  app.decorate('payments', payments)
  app.decorate('checkout', createCheckout({ orders, payments, publicUrl: config.publicUrl, log: app.log }))
}, { name: 'services' })
