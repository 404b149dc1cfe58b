// The desk's order queries at 100,000 orders, outside the test suite:
//   node --import=tsx bench/admin-orders.ts
// A fresh database in a temporary folder: 2,000 buyers, 200 items, 100,000 orders over a year
// (a tenth refunded, a few pending); then each query the desk runs, timed (median of 20).
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { createSales, parseCursor } from '../src/modules/desk/sales.js'

const ORDERS = 100_000
const dir = await mkdtemp(join(tmpdir(), 'desk-bench-'))
const database = openDatabase(join(dir, 'bench.db'))
try {
  await migrateToLatest(database.db)
  const { sqlite } = database
  sqlite.transaction(() => {
    const user = sqlite.prepare("INSERT INTO users (provider, subject, email, email_verified) VALUES ('oidc', ?, ?, 1)")
    for (let i = 0; i < 2000; i++) user.run(`u${i}`, `buyer${i}@example.com`)
    const item = sqlite.prepare("INSERT INTO content (slug, title, price_cents, currency, file_key, file_name, file_size, sha256, preview_key) VALUES (?, ?, 500, 'usd', 'k', 'f.pdf', 1, 'x', 'p')")
    for (let i = 0; i < 200; i++) item.run(`item-${i}`, `Item ${i}: a title of a typical length`)
    const order = sqlite.prepare('INSERT INTO orders (id, user_id, content_id, amount_cents, currency, status, provider_payment_id, created_at, paid_at) VALUES (?, ?, ?, ?, \'usd\', ?, ?, ?, ?)')
    const start = Date.now() - 365 * 24 * 60 * 60 * 1000
    for (let i = 0; i < ORDERS; i++) {
      const at = new Date(start + i * 315_000).toISOString()
      const status = i % 10 === 0 ? 'refunded' : i % 97 === 0 ? 'pending' : 'paid'
      order.run(randomUUID(), 1 + (i % 2000), 1 + (i % 200), 500, status, `pi_${i}`, at, status === 'pending' ? null : at)
    }
  })()
  sqlite.pragma('optimize')
  const sales = createSales({ db: database.db, runner: database.runner, currency: 'usd' })

  const time = async (fn: () => Promise<unknown>): Promise<string> => {
    const runs: number[] = []
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now()
      await fn()
      runs.push(performance.now() - t0)
    }
    runs.sort((a, b) => a - b)
    return `${runs[10]!.toFixed(2)} ms`
  }
  const deep = sqlite.prepare('SELECT created_at, id FROM orders ORDER BY created_at, id LIMIT 1 OFFSET 1000').get() as { created_at: string, id: string }
  const before = parseCursor(`${deep.created_at}|${deep.id}`)!
  let exported = 0
  const results: Array<[string, string]> = [
    ['orders, first page (with the total)', await time(async () => await sales.orders({}))],
    ['orders, a page near the end (keyset)', await time(async () => await sales.orders({}, { before }))],
    ['orders, status=refunded', await time(async () => await sales.orders({ status: 'refunded' }))],
    ['orders, status=pending, near the end', await time(async () => await sales.orders({ status: 'pending' }, { before }))],
    ['orders, q=buyer17@ (e-mail)', await time(async () => await sales.orders({ q: 'buyer17@' }))],
    ['orders, q=item 42: (title)', await time(async () => await sales.orders({ q: 'Item 42:' }))],
    ['order page', await time(async () => await sales.order(deep.id))],
    ['dashboard', await time(async () => await sales.dashboard())],
    ['customers, first page', await time(async () => await sales.customers(1))]
  ]
  const t0 = performance.now()
  for await (const chunk of sales.csv({})) exported += chunk.length
  results.push(['CSV of all 100,000 orders', `${(performance.now() - t0).toFixed(0)} ms (${(exported / 1024 / 1024).toFixed(1)} MB)`])
  console.log(`Desk queries at ${ORDERS.toLocaleString('en-US')} orders (median of 20):`)
  for (const [name, figure] of results) console.log(`  ${name.padEnd(40)} ${figure}`)
} finally {
  await database.close()
  await rm(dir, { recursive: true, force: true })
}
