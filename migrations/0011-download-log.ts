import type { Kysely } from 'kysely'
import { bytesType } from './dialect.js'

// The download log: which order a download belongs to, who (user or email), how it came
// (library or emailed link), how many bytes went out and to which client. One row is one
// counted download: the Range requests that continue it update its bytes and last_request_at.
export async function up (db: Kysely<any>): Promise<void> {
  // No foreign key on order_id: a download row outlives nothing it points at (flush deletes
  // orders before content, whose cascade removes the rows), and a plain column keeps that order free.
  await db.schema.alterTable('downloads').addColumn('order_id', 'text').execute()
  await db.schema.alterTable('downloads').addColumn('email', 'text').execute()
  await db.schema.alterTable('downloads').addColumn('via', 'text', (c) => c.notNull().defaultTo('library')).execute()
  await db.schema.alterTable('downloads').addColumn('bytes', bytesType(db), (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('downloads').addColumn('requests', 'integer', (c) => c.notNull().defaultTo(1)).execute()
  await db.schema.alterTable('downloads').addColumn('client_address', 'text').execute()
  await db.schema.alterTable('downloads').addColumn('user_agent', 'text').execute()
  await db.schema.alterTable('downloads').addColumn('last_request_at', 'text').execute()
  await db.updateTable('downloads').set((eb) => ({ last_request_at: eb.ref('downloaded_at') })).execute()
  await db.schema.createIndex('downloads_order').on('downloads').columns(['order_id', 'last_request_at']).execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
