import { type Kysely, sql } from 'kysely'
import { bytesType, nowText } from './dialect.js'

// Every PDF an item has had, so buyers can fetch an earlier one and see what changed. The
// content row keeps pointing at the latest file (file_key and the rest), so everything that
// reads it is unchanged; version 1 of every existing item is its current file.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('content_versions')
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
    .addColumn('file_key', 'text', (c) => c.notNull())
    .addColumn('file_name', 'text', (c) => c.notNull())
    .addColumn('file_size', bytesType(db), (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('changelog', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('content_versions_pk', ['content_id', 'version'])
    .execute()
  await sql`INSERT INTO content_versions (content_id, version, file_key, file_name, file_size, sha256, changelog, created_at)
    SELECT id, 1, file_key, file_name, file_size, sha256, '', created_at FROM content`.execute(db)
  // Sales per item (the items list) and "has anyone ordered it" (delete) look orders up by item.
  await db.schema.createIndex('orders_content_status').on('orders').columns(['content_id', 'status']).execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
