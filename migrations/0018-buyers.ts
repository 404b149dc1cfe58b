import { type Kysely, sql } from 'kysely'
import { autoId } from './dialect.js'

// Buyers without a password (issue 24).
// - sign_in_tokens: one row per emailed sign-in link. The link's token is never stored: only its
//   SHA-256 (token_hash). `id` is what the outbox row refers to; the token is derived from it
//   with a key only the app has (see src/modules/accounts/email-sign-in.ts). `used_at` makes a
//   link single-use; `client` and `email` let the per-client and per-address limits count.
// - audience: the customers list's own facts about an address (as normalizeEmail gives it):
//   when it was first seen, whether it agreed to hear from the creator, whether it unsubscribed.
// - broadcasts: an update (a new version) or a message to an item's buyers. Its recipients are
//   outbox rows written in one transaction, at most one per (broadcast, address): the unique
//   index makes a resumed or repeated enqueue add nobody twice.
// - outbox.ref: what a row's mail is about besides an order (a sign-in token's id).
// - users: looked up by address at sign-in (one verified address, one library).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('sign_in_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('email', 'text', (c) => c.notNull())
    .addColumn('next', 'text')
    .addColumn('client', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('used_at', 'text')
    .execute()
  await db.schema.createIndex('sign_in_tokens_email').on('sign_in_tokens').columns(['email', 'created_at']).execute()
  await db.schema.createIndex('sign_in_tokens_client').on('sign_in_tokens').columns(['client', 'created_at']).execute()

  await db.schema.createTable('audience')
    .addColumn('email', 'text', (c) => c.primaryKey())
    .addColumn('first_seen', 'text', (c) => c.notNull())
    .addColumn('consent', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('consent_at', 'text')
    .addColumn('unsubscribed_at', 'text')
    .execute()

  await db.schema.createTable('broadcasts')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('body', 'text', (c) => c.notNull())
    .addColumn('version', 'integer')
    .addColumn('recipients', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute()
  await db.schema.createIndex('broadcasts_content').on('broadcasts').columns(['content_id', 'created_at']).execute()

  await db.schema.alterTable('outbox').addColumn('broadcast_id', 'integer', (c) => c.references('broadcasts.id').onDelete('cascade')).execute()
  await db.schema.alterTable('outbox').addColumn('ref', 'text').execute()
  await db.schema.createIndex('outbox_broadcast_address').on('outbox').columns(['broadcast_id', 'to_address']).unique().execute()

  await sql`CREATE INDEX users_email ON users (lower(email))`.execute(db)
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
