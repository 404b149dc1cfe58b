import type { Kysely } from 'kysely'

// Sign-ins kept on the server: signing out deletes the row, so a copy of the cookie taken before
// is signed out too, and expires_at bounds a sign-in from the moment it happened (not sliding).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('sessions_expires_at').on('sessions').column('expires_at').execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
