import { type Kysely, sql } from 'kysely'

// Orders with lines (issue 26): an order pays for one or more lines, each an item or a bundle.
// - order_lines: the order's lines, numbered from 1, each with its amount (before discounts and
//   tax, in the order's currency), its share of the order's discount and tax (recorded when the
//   order is paid) and how much of it has been refunded. orders.content_id stays line 1's item
//   and orders.amount_cents the sum of the lines, so every single-item query keeps working.
// - Every existing order becomes a one-line order: its amounts, discount, tax and refunds are
//   the line's.
// - library.line: the order's line that granted the row (null: line 1, as every row before).
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('order_lines')
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('line', 'integer', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('amount_cents', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('discount_cents', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('tax_cents', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('refunded_cents', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('order_lines_pk', ['order_id', 'line'])
    .execute()
  await db.schema.createIndex('order_lines_content').on('order_lines').column('content_id').execute()
  await sql`INSERT INTO order_lines (order_id, line, content_id, amount_cents, currency, discount_cents, tax_cents, refunded_cents)
    SELECT id, 1, content_id, amount_cents, currency, discount_cents, tax_cents, refunded_cents FROM orders`.execute(db)
  await db.schema.alterTable('library').addColumn('line', 'integer').execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
