import { execFile } from 'node:child_process'
import { cp, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { build, testEnv } from '../helpers/build.js'
import { seedBuyers, seedContent } from '../helpers/seed.js'

const run = promisify(execFile)
const ROOT = join(import.meta.dirname, '..', '..')

async function backup (env: Record<string, string>, ...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'scripts/backup.ts', ...args], {
      cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const failed = error as { code?: number, stdout?: string, stderr?: string }
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }
  }
}

t.test('npm run backup takes a consistent snapshot under write load; a new app on the copy finds every order', async (t) => {
  const h = await build(t)
  const env = testEnv(h.dir, h.stripe.url, h.idp.url)
  const buyers = await seedBuyers(h, 2)
  const items = await seedContent(h, 400)
  // Seeded rows have no files; give them some, so the restored store is whole (a restore of a
  // folder that misses a row's file answers /healthz degraded).
  for (const item of items) {
    await writeFile(join(h.config.contentDir, item.file_key), `pdf ${item.slug}`)
    await writeFile(join(h.config.contentDir, item.preview_key), `png ${item.slug}`)
  }
  let next = 0
  // Paid through the webhook, as Stripe would: order, then a signed completed event.
  async function buyOne (): Promise<string> {
    const item = items[next % items.length]!
    const buyer = buyers[Math.floor(next / items.length) % buyers.length]!
    next++
    const order = await h.app.orders.create(buyer.user.id, item)
    const sessionId = `cs_test_backup_${next}`
    await h.app.orders.attachCheckout(order.id, sessionId)
    const response = await h.webhook(h.stripe.buildEvent('checkout.session.completed', {
      id: sessionId,
      object: 'checkout.session',
      client_reference_id: order.id,
      metadata: { order_id: order.id },
      amount_total: item.price_cents,
      currency: item.currency,
      payment_status: 'paid',
      payment_intent: `pi_backup_${next}`
    }))
    if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`)
    return order.id
  }
  for (let i = 0; i < 200; i++) await buyOne()
  const before = new Set((await h.app.db.selectFrom('orders').select('id').execute()).map((o) => o.id))

  // Writes keep coming while the snapshot is taken (bounded in count and time).
  const target = join(h.dir, 'snapshot.db')
  const state = { writing: true }
  let written = 0
  const load = (async () => {
    const deadline = Date.now() + 30_000
    while (state.writing && written < 600 && Date.now() < deadline) {
      await buyOne()
      written++
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  const result = await backup(env, target)
  state.writing = false
  await load
  t.equal(result.code, 0, `backup exits 0 ${result.stderr}`)
  t.match(result.stdout, new RegExp(`Backed up .* to ${target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'it says what it wrote')
  t.match(result.stdout, /\d+ orders/)
  t.comment(`${written} orders were paid while the backup ran; ${result.stdout.trim().split('\n')[0]}`)
  t.ok(written > 0, 'the app was writing during the backup')

  // Restore: the copy as DATABASE_URL of a new app, with a copy of the folder taken after it
  // (the folder carries its store id, .store-id, which the database's copy shares).
  const restoredContent = join(h.dir, 'restored-content')
  await cp(h.config.contentDir, restoredContent, { recursive: true })
  const restored = await buildApp(loadConfig({ ...env, DATABASE_URL: target, CONTENT_DIR: restoredContent }))
  t.teardown(async () => { await restored.close() })
  await restored.ready()
  t.equal((await restored.inject('/healthz')).statusCode, 200, 'the restored app is healthy')
  const orders = await restored.db.selectFrom('orders').selectAll().execute()
  const library = await restored.db.selectFrom('library').selectAll().execute()
  const restoredIds = new Set(orders.map((o) => o.id))
  t.ok([...before].every((id) => restoredIds.has(id)), `every order from before the backup is there (${before.size} of ${orders.length})`)
  const live = new Set((await h.app.db.selectFrom('orders').select('id').execute()).map((o) => o.id))
  t.ok([...restoredIds].every((id) => live.has(id)), 'nothing in the copy that the app never had')
  // Consistent: each paid order has its grant and its event, never one without the other.
  const granted = new Set(library.map((row) => row.order_id))
  t.ok(orders.every((o) => (o.status === 'paid') === granted.has(o.id)), 'every paid order in the copy has its library entry and no other has')
  const events = await restored.db.selectFrom('payment_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  t.equal(events.n, granted.size, 'one recorded event per grant')
  t.ok(orders.length >= before.size && orders.length <= before.size + written, 'the copy is one moment of the database')

  // A buyer's library survives the restore, and so does their sign-in (made before the backup).
  const page = await restored.inject({ url: '/library', headers: { cookie: buyers[0]!.jar.header } })
  t.equal(page.statusCode, 200)
  t.match(page.body, /item 0/, 'the restored library lists what was bought')
})

t.test('backup refuses to overwrite an existing file unless told to', async (t) => {
  const h = await build(t)
  const env = testEnv(h.dir, h.stripe.url, h.idp.url)
  const target = join(h.dir, 'existing.db')
  t.equal((await backup(env, target)).code, 0)
  const first = await stat(target)
  const refused = await backup(env, target)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /already exists.*--force/)
  t.same((await stat(target)).mtimeMs, first.mtimeMs, 'the existing file is untouched')
  const forced = await backup(env, target, '--force')
  t.equal(forced.code, 0, 'with --force it is replaced')
  t.equal((await readFile(target)).subarray(0, 15).toString(), 'SQLite format 3')
  const usage = await backup(env)
  t.equal(usage.code, 2)
  t.match(usage.stderr, /Usage: npm run backup -- <file>/)
})

// This file stays out of the PostgreSQL + S3 run of `npm test`: the script snapshots a SQLite
// file, and a PostgreSQL store is backed up with pg_dump and its bucket (README). What the script
// does there is refuse, pointing to pg_dump, which needs no server to show.
t.test('on PostgreSQL the backup script refuses, points to pg_dump and writes nothing', async (t) => {
  const h = await build(t)
  const target = join(h.dir, 'pg.db')
  const refused = await backup({ ...testEnv(h.dir, h.stripe.url, h.idp.url), DATABASE_URL: 'postgres://market:s3cret-word@127.0.0.1:1/market' }, target)
  t.equal(refused.code, 1)
  t.match(refused.stderr, /PostgreSQL .*back it up with pg_dump/)
  t.notMatch(refused.stderr, /s3cret-word/, 'the password is not repeated')
  t.equal(await stat(target).then(() => true, () => false), false, 'no file written')
})
