import type { Kysely } from 'kysely'

// Several app instances on one database.
// - The outbox's lease: an instance claims a due row (claimed_by, claimed_until) with a
//   conditional UPDATE before it sends, so two instances never send one mail while the lease
//   holds; a crashed instance's claim runs out and another sends it.
// - checkout_claims: "one open checkout per buyer and item" across instances. A Buy claims its
//   buyer and item for the few seconds it takes to find or open the Checkout Session; a second
//   Buy on another instance waits for it, then finds the open order.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('outbox').addColumn('claimed_by', 'text').execute()
  await db.schema.alterTable('outbox').addColumn('claimed_until', 'text').execute()
  await db.schema.createTable('checkout_claims')
    .addColumn('user_id', 'integer', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.notNull())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('claimed_until', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('checkout_claims_pk', ['user_id', 'content_id'])
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
