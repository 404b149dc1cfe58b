import { type Kysely, sql } from 'kysely'

// Partial refunds. An order keeps how much of it has been refunded (refunded_cents, in its
// currency's minor units): a partial refund keeps the buyer's access, the last cent revokes it.
// Orders refunded before this migration were refunded in full. A refund notice in the outbox
// says how much that one refund returned (refund_cents) and whether the buyer still has the
// item afterwards (access_kept, 0/1), as they were when it was written.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('refunded_cents', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await sql`UPDATE orders SET refunded_cents = amount_cents - discount_cents WHERE status = 'refunded'`.execute(db)
  await db.schema.alterTable('outbox').addColumn('refund_cents', 'integer').execute()
  await db.schema.alterTable('outbox').addColumn('access_kept', 'integer').execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
