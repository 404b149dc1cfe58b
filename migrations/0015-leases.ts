import type { Kysely } from 'kysely'

// Leases for work one instance at a time does on behalf of all (the store's sweep, at start and
// hourly): a row per kind of work names who holds it and until when. An instance takes a lease
// with one conditional upsert (absent, or run out); a crashed holder's lease runs out by itself.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('claimed_until', 'text', (c) => c.notNull())
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
