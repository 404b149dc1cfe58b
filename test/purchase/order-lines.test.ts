// backends: sqlite, postgres-s3
// Orders with lines (DESIGN.md, "Bundles and cart"): migrations/0021 turns every order into a
// one-line order on both engines; a new order has its line; the grant records each line's share
// of the discount and tax and names the line on each library row.
import { type Kysely, Migrator, sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import { openPostgres } from '../../src/db/postgres.js'
import type { Database } from '../../src/db/types.js'
import { lineShares } from '../../src/modules/purchase/lines.js'
import { onPostgres, sharedBackend } from '../helpers/backend.js'
import { buy, shop } from '../helpers/purchase.js'

async function emptyDatabase (t: { teardown(fn: () => unknown): void }): Promise<Kysely<any>> {
  if (!onPostgres()) {
    const database = openDatabase(':memory:')
    t.teardown(async () => { await database.close() })
    return database.db
  }
  const handle = openPostgres(await (await sharedBackend()).postgres.build(), { max: 1 })
  t.teardown(handle.close)
  return handle.db
}

t.test('the migration turns paid, refunded, partly refunded and pending orders into one-line orders', async (t) => {
  const db = await emptyDatabase(t)
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const before = await migrator.migrateTo('0020-bundles')
  if (before.error !== undefined) throw before.error
  await sql`INSERT INTO users (provider, subject, email, email_verified, is_admin) VALUES ('test', 'u1', 'u1@example.com', 1, 0)`.execute(db)
  await sql`INSERT INTO content (slug, title, description, price_cents, currency, file_key, file_name, file_size, sha256, preview_key)
    VALUES ('one', 'One', '', 500, 'usd', 'one.pdf', 'one.pdf', 10, '', 'one.png'), ('two', 'Two', '', 700, 'usd', 'two.pdf', 'two.pdf', 10, '', 'two.png')`.execute(db)
  const [one, two] = (await sql<{ id: number }>`SELECT id FROM content ORDER BY slug`.execute(db)).rows.map((r) => Number(r.id))
  await sql`INSERT INTO orders (id, user_id, content_id, amount_cents, currency, status, discount_cents, tax_cents, refunded_cents, tax_behavior) VALUES
    ('o1', 1, ${one}, 500, 'usd', 'paid', 100, 40, 0, 'exclusive'),
    ('o2', 1, ${two}, 700, 'usd', 'refunded', 0, 0, 700, NULL),
    ('o3', 1, ${one}, 500, 'usd', 'paid', 0, 0, 200, NULL),
    ('o4', 1, ${two}, 700, 'usd', 'pending', 0, 0, 0, NULL)`.execute(db)
  await sql`INSERT INTO library (user_id, content_id, order_id) VALUES (1, ${one}, 'o1')`.execute(db)
  const after = await migrateToLatest(db as never)
  t.equal(after.error, undefined)
  const typed = db as unknown as Kysely<Database>
  const lines = await typed.selectFrom('order_lines').selectAll().orderBy('order_id').execute()
  t.same(lines.map((l) => ({ ...l, content_id: Number(l.content_id) })), [
    { order_id: 'o1', line: 1, content_id: one, amount_cents: 500, currency: 'usd', discount_cents: 100, tax_cents: 40, refunded_cents: 0 },
    { order_id: 'o2', line: 1, content_id: two, amount_cents: 700, currency: 'usd', discount_cents: 0, tax_cents: 0, refunded_cents: 700 },
    { order_id: 'o3', line: 1, content_id: one, amount_cents: 500, currency: 'usd', discount_cents: 0, tax_cents: 0, refunded_cents: 200 },
    { order_id: 'o4', line: 1, content_id: two, amount_cents: 700, currency: 'usd', discount_cents: 0, tax_cents: 0, refunded_cents: 0 }
  ], 'one line per order, with its amounts, discount, tax and refunds')
  t.same(await typed.selectFrom('library').select(['order_id', 'line']).execute(), [{ order_id: 'o1', line: null }], 'library rows keep their order; no line means line 1')
  t.equal((await typed.selectFrom('orders').select('id').execute()).length, 4, 'no order lost')
  await t.rejects(typed.insertInto('order_lines').values({ order_id: 'o1', line: 1, content_id: one!, amount_cents: 1, currency: 'usd' }).execute(), 'a line number is used once per order')
})

t.test('a Buy makes a one-line order; its grant records the line\'s shares and names the line in the library', async (t) => {
  const s = await shop(t)
  const { order } = await buy(s)
  const lines = await s.h.app.db.selectFrom('order_lines').selectAll().where('order_id', '=', order.id).execute()
  t.same(lines.map((l) => [l.line, l.content_id, l.amount_cents, l.currency, l.discount_cents, l.tax_cents]), [[1, order.content_id, 500, 'usd', 0, 0]])
  t.same(await s.h.app.db.selectFrom('library').select(['order_id', 'line']).execute(), [{ order_id: order.id, line: 1 }])
})

t.test('shares of discount and tax: in proportion, whole cents, adding up to the totals', async (t) => {
  t.same(lineShares([{ line: 1, amount_cents: 1000 }], 150, 90), [{ line: 1, discountCents: 150, taxCents: 90 }])
  const shares = lineShares([{ line: 1, amount_cents: 500 }, { line: 2, amount_cents: 700 }, { line: 3, amount_cents: 333 }], 101, 77)
  t.equal(shares.reduce((a, s) => a + s.discountCents, 0), 101)
  t.equal(shares.reduce((a, s) => a + s.taxCents, 0), 77)
  t.same(shares.map((s) => s.discountCents), [32, 46, 23])
  t.same(lineShares([{ line: 1, amount_cents: 500 }, { line: 2, amount_cents: 500 }], 0, 0), [{ line: 1, discountCents: 0, taxCents: 0 }, { line: 2, discountCents: 0, taxCents: 0 }])
})
