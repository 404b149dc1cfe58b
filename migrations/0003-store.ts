import type { Kysely } from 'kysely'

// Small facts about the database itself. `store_id` binds it to its content folder (which holds
// the same id in `.store-id`), so a database never runs against another store's files.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('meta')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
