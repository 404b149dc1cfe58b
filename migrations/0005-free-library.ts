import type { Kysely } from 'kysely'
import { nowText } from './dialect.js'

// Free items a reader has downloaded, so their library lists them beside what they bought.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('free_library')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('added_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('free_library_pk', ['user_id', 'content_id'])
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
