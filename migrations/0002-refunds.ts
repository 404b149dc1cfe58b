import type { Kysely } from 'kysely'
import { nowText } from './dialect.js'

// Full refunds by payment intent, kept even when no order is known for the payment yet:
// Stripe may deliver charge.refunded before checkout.session.completed.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('refunds')
    .addColumn('payment_intent', 'text', (c) => c.primaryKey())
    .addColumn('refunded_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
