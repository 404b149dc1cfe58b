import type { Kysely } from 'kysely'
import { autoId, nowText } from './dialect.js'

// The creator's desk, money side. An order's timeline: what happened to it and through which
// path (created, Checkout Session attached, each webhook event and success redirect with its
// outcome, refunds), written by the orders service in the same transaction as the change.
// Indexes for the order list (keyset pagination on created_at, id, with and without a status
// filter, and by buyer or item for a search) and covering ones for the revenue figures.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('order_events')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute()
  await db.schema.createIndex('order_events_order').on('order_events').columns(['order_id', 'at']).execute()
  await db.schema.createIndex('orders_created').on('orders').columns(['created_at', 'id']).execute()
  await db.schema.createIndex('orders_status_created').on('orders').columns(['status', 'created_at', 'id']).execute()
  // Covering the revenue figures (by paid day, sales per item, customers): read from the index alone.
  await db.schema.createIndex('orders_paid_at').on('orders').columns(['paid_at', 'currency', 'status', 'amount_cents', 'content_id']).execute()
  await db.schema.createIndex('orders_buyer').on('orders').columns(['user_id', 'paid_at', 'status', 'amount_cents', 'currency']).execute()
  // A search by item walks that item's orders only; the rest covers sales per item.
  await db.schema.createIndex('orders_content_created').on('orders').columns(['content_id', 'created_at', 'id', 'paid_at', 'currency', 'status', 'amount_cents']).execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
