import { type Kysely, Migrator, sql } from 'kysely'
import t, { type Test } from 'tap'
import { migrations } from '../../migrations/index.js'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { openPostgres } from '../../src/db/postgres.js'
import type { Database } from '../../src/db/types.js'
import { startPostgres } from '../helpers/postgres.js'

const cluster = await startPostgres(t)

// migrations/0016-provider-neutral-names.ts renames orders.stripe_session_id, orders.payment_intent
// and the stripe_events table; a store migrated before it keeps every row under the new names.

/** Migrates up to 0015, writes orders and events under the old names, then migrates to the latest. */
async function migrateWithOrders (db: Kysely<Database>): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const before = await migrator.migrateTo('0015-leases')
  if (before.error !== undefined) throw before.error
  await sql`INSERT INTO users (provider, subject, email, email_verified, is_admin) VALUES ('test', 'u1', 'u1@example.com', 1, 0)`.execute(db)
  await sql`INSERT INTO content (slug, title, description, price_cents, currency, file_key, file_name, file_size, sha256, preview_key)
    VALUES ('guide', 'Guide', '', 500, 'usd', 'guide.pdf', 'guide.pdf', 1000, ${'0'.repeat(64)}, 'guide.png')`.execute(db)
  await sql`INSERT INTO orders (id, user_id, content_id, amount_cents, currency, status, stripe_session_id, payment_intent, provider)
    VALUES ('order-stripe', 1, 1, 500, 'usd', 'paid', 'cs_test_old', 'pi_old', 'stripe'),
           ('order-mollie', 1, 1, 500, 'usd', 'paid', 'tr_old', 'tr_old', 'mollie'),
           ('order-pending', 1, 1, 500, 'usd', 'pending', NULL, NULL, 'stripe')`.execute(db)
  await sql`INSERT INTO stripe_events (id, type) VALUES ('evt_old', 'checkout.session.completed'), ('tr_old:paid:0', 'payment.paid')`.execute(db)
  await migrateToLatest(db)
}

async function checkRenamed (t: Test, db: Kysely<Database>): Promise<void> {
  const orders = await db.selectFrom('orders').select(['id', 'provider_checkout_id', 'provider_payment_id']).orderBy('id').execute()
  t.same(orders, [
    { id: 'order-mollie', provider_checkout_id: 'tr_old', provider_payment_id: 'tr_old' },
    { id: 'order-pending', provider_checkout_id: null, provider_payment_id: null },
    { id: 'order-stripe', provider_checkout_id: 'cs_test_old', provider_payment_id: 'pi_old' }
  ], 'every order keeps its checkout and payment under the new names')
  const events = await db.selectFrom('payment_events').select(['id', 'type']).orderBy('id').execute()
  t.same(events, [{ id: 'evt_old', type: 'checkout.session.completed' }, { id: 'tr_old:paid:0', type: 'payment.paid' }], 'every recorded event is in payment_events')
  // Still recorded exactly once: a redelivered event is a conflict, as before.
  const again = await db.insertInto('payment_events').values({ id: 'evt_old', type: 'checkout.session.completed' }).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst()
  t.equal(Number(again.numInsertedOrUpdatedRows ?? 0), 0, 'an event recorded before the rename is still a duplicate')
  await t.rejects(db.insertInto('orders').values({ id: 'order-twin', user_id: 1, content_id: 1, amount_cents: 500, currency: 'usd', provider_checkout_id: 'cs_test_old' }).execute(),
    'two orders still cannot share a checkout (the unique constraint moved with the column)')
  await t.rejects(sql`SELECT * FROM stripe_events`.execute(db), 'the old table name is gone')
}

t.test('on SQLite, orders and events written before the rename are kept under the new names', async (t) => {
  const database = openDatabase(':memory:')
  t.teardown(async () => { await database.close() })
  await migrateWithOrders(database.db)
  await checkRenamed(t, database.db)
  const indexes = database.sqlite!.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as Array<{ name: string }>
  t.ok(indexes.some((index) => index.name === 'orders_provider_payment_id'), 'the payment index has the new name')
  t.notOk(indexes.some((index) => index.name === 'orders_payment_intent'), 'and not the old one')
})

t.test('on PostgreSQL, orders and events written before the rename are kept under the new names, constraints renamed', { skip: cluster.skip }, async (t) => {
  const handle = openPostgres(await cluster.build())
  t.teardown(handle.close)
  await migrateWithOrders(handle.db)
  await checkRenamed(t, handle.db)
  const names = await sql<{ name: string }>`SELECT conname AS name FROM pg_constraint WHERE conrelid IN ('orders'::regclass, 'payment_events'::regclass)
    UNION SELECT indexname AS name FROM pg_indexes WHERE tablename IN ('orders', 'payment_events')`.execute(handle.db)
  const all = names.rows.map((row) => row.name)
  for (const name of ['orders_provider_checkout_id_key', 'payment_events_pkey', 'orders_provider_payment_id']) t.ok(all.includes(name), `${name} is there`)
  for (const name of ['orders_stripe_session_id_key', 'stripe_events_pkey', 'orders_payment_intent']) t.notOk(all.includes(name), `${name} is gone`)
})
