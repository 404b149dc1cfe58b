import type { Kysely } from 'kysely'
import { autoId, nowText } from './dialect.js'

// The creator's desk: items can be unpublished, and every download is recorded (an order's
// timeline shows them; a library marks an item "Updated" after a newer version).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('content').addColumn('published', 'integer', (c) => c.notNull().defaultTo(1)).execute()
  await db.schema.createTable('downloads')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('downloaded_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .execute()
  await db.schema.createIndex('downloads_user_content').on('downloads').columns(['user_id', 'content_id', 'downloaded_at']).execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
