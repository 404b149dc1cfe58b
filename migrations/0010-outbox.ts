import { type Kysely, sql } from 'kysely'
import { autoId } from './dialect.js'

// The transactional outbox: a mail to send is a row written in the transaction of what caused it
// (a receipt with the grant), so a crash never loses one. A background sender delivers the due
// rows and marks them sent; a failure sets the next attempt (backoff) and keeps the error.
// subject/html/text hold what was sent: a receipt is rendered when it goes out, so its download
// link is fresh then (a receipt that waited out an SMTP outage still gets its full days).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('outbox')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text', (c) => c.references('orders.id').onDelete('cascade'))
    .addColumn('to_address', 'text', (c) => c.notNull())
    .addColumn('subject', 'text')
    .addColumn('html', 'text')
    .addColumn('text', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_attempt_at', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text')
    .addColumn('last_error', 'text')
    .execute()
  // The sender's question ("what is due?") reads only the waiting rows.
  await sql`CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL`.execute(db)
  // The per-address limit of POST /links counts an address's recent mails.
  await sql`CREATE INDEX outbox_address ON outbox (to_address, kind, created_at)`.execute(db)
  await sql`CREATE INDEX outbox_order ON outbox (order_id)`.execute(db)
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
