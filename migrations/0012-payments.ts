import type { Kysely } from 'kysely'

// Payments breadth: an item may be sold through a Stripe Payment Link (its id, and the URL
// Stripe gave it) and may be "pay what you want" with a minimum; an order remembers which
// provider took its money (refunds go back there even after the store switches) and the
// discount a promotion code took off its amount (amount_cents stays the price it was for).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('content').addColumn('payment_link_id', 'text').execute()
  await db.schema.alterTable('content').addColumn('payment_link_url', 'text').execute()
  await db.schema.alterTable('content').addColumn('pay_what_you_want', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('content').addColumn('min_price_cents', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  // One item per Payment Link: a completed link session must match exactly one item.
  await db.schema.createIndex('content_payment_link').unique().on('content').column('payment_link_id').execute()
  await db.schema.alterTable('orders').addColumn('discount_cents', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('orders').addColumn('provider', 'text', (c) => c.notNull().defaultTo('stripe')).execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
