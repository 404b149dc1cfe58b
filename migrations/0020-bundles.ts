import { type Kysely, sql } from 'kysely'
import { bytesType, isPostgres, nowText } from './dialect.js'

// Bundles (issue 26): several items sold as one item of the catalogue.
// - content.kind: 'item' (a PDF of its own) or 'bundle'. A bundle's row keeps the NOT NULL file
//   columns empty (file_key '', file_size 0, sha256 '') and has a cover like any item. Every
//   existing row is an item.
// - bundle_items: what a bundle holds, in the order it lists them. Deleting the bundle takes its
//   rows along; an item a bundle holds cannot be deleted (the app refuses first, the foreign
//   key is the backstop).
// - stamped_copies: a bundle's order stamps one copy of each of its items, so a copy is keyed
//   by order, item and version (it was order and version: an order bought one item). The table
//   is rebuilt on SQLite (a primary key cannot be changed there), columns in the same order.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('content').addColumn('kind', 'text', (c) => c.notNull().defaultTo('item')).execute()
  await db.schema.createTable('bundle_items')
    .addColumn('bundle_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('item_id', 'integer', (c) => c.notNull().references('content.id'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('bundle_items_pk', ['bundle_id', 'item_id'])
    .execute()
  await db.schema.createIndex('bundle_items_item').on('bundle_items').column('item_id').execute()

  if (isPostgres(db)) {
    await sql`ALTER TABLE stamped_copies DROP CONSTRAINT stamped_copies_pk`.execute(db)
    await sql`ALTER TABLE stamped_copies ADD CONSTRAINT stamped_copies_pk PRIMARY KEY (order_id, content_id, version)`.execute(db)
    return
  }
  await db.schema.alterTable('stamped_copies').renameTo('stamped_copies_0017').execute()
  await db.schema.createTable('stamped_copies')
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('content_id', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('copy_id', 'text', (c) => c.notNull().unique())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('size', bytesType(db), (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('stamped_copies_pk', ['order_id', 'content_id', 'version'])
    .execute()
  await sql`INSERT INTO stamped_copies (order_id, content_id, version, copy_id, key, size, created_at)
    SELECT order_id, content_id, version, copy_id, key, size, created_at FROM stamped_copies_0017`.execute(db)
  await db.schema.dropTable('stamped_copies_0017').execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
