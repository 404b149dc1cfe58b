import { type Kysely, sql } from 'kysely'
import { isPostgres } from './dialect.js'

// Provider-neutral names for what Stripe and Mollie both fill in: an order's checkout at the
// provider (a Stripe Checkout Session, a Mollie payment) and the payment refunds go back through
// (a Stripe PaymentIntent, the Mollie payment again), and the webhook events recorded exactly once.
// Renamed in place: every row, the unique constraint and the index keep their contents.
export async function up (db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE orders RENAME COLUMN stripe_session_id TO provider_checkout_id`.execute(db)
  await sql`ALTER TABLE orders RENAME COLUMN payment_intent TO provider_payment_id`.execute(db)
  await sql`ALTER TABLE stripe_events RENAME TO payment_events`.execute(db)
  if (isPostgres(db)) {
    await sql`ALTER TABLE orders RENAME CONSTRAINT orders_stripe_session_id_key TO orders_provider_checkout_id_key`.execute(db)
    await sql`ALTER TABLE payment_events RENAME CONSTRAINT stripe_events_pkey TO payment_events_pkey`.execute(db)
    await sql`ALTER INDEX orders_payment_intent RENAME TO orders_provider_payment_id`.execute(db)
  } else {
    // SQLite renames the column inside the index and the table's automatic indexes, but cannot
    // rename an index: it is made again under its new name.
    await db.schema.dropIndex('orders_payment_intent').execute()
    await db.schema.createIndex('orders_provider_payment_id').on('orders').column('provider_payment_id').execute()
  }
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
