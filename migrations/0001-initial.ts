import { type Kysely, sql } from 'kysely'
import { autoId, bytesType, nowText } from './dialect.js'

// Frozen in time: never import application code here.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('users')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('email_verified', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('name', 'text')
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addUniqueConstraint('users_provider_subject', ['provider', 'subject'])
    .execute()

  await db.schema.createTable('content')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('slug', 'text', (c) => c.notNull().unique())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('price_cents', 'integer', (c) => c.notNull().check(sql`price_cents >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('file_key', 'text', (c) => c.notNull())
    .addColumn('file_name', 'text', (c) => c.notNull())
    .addColumn('file_size', bytesType(db), (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('preview_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .execute()
  // The catalogue lists newest first.
  await db.schema.createIndex('content_created_at').on('content').columns(['created_at desc', 'id desc']).execute()

  await db.schema.createTable('orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id'))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('amount_cents', 'integer', (c) => c.notNull())
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending')
      .check(sql`status in ('pending', 'paid', 'failed', 'expired', 'refunded', 'review')`))
    .addColumn('stripe_session_id', 'text', (c) => c.unique())
    .addColumn('payment_intent', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addColumn('paid_at', 'text')
    .execute()
  await db.schema.createIndex('orders_user').on('orders').columns(['user_id', 'content_id']).execute()
  await db.schema.createIndex('orders_payment_intent').on('orders').column('payment_intent').execute()

  await db.schema.createTable('library')
    .addColumn('user_id', 'integer', (c) => c.notNull().references('users.id'))
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('granted_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('library_pk', ['user_id', 'content_id'])
    .execute()

  await db.schema.createTable('stripe_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .execute()
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
