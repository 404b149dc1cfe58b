// backends: sqlite, postgres-s3
// Bundles (DESIGN.md, "Bundles and cart"): several items sold as one item of the catalogue.
// GET /admin/bundles/new, POST /admin/bundles (title, description, price, preview, items
// repeated); the bundle's page lists what it holds; buying it grants every item; a full refund
// revokes those of its items the buyer holds through no other order.
import { Migrator, sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import type { Database } from '../../src/db/types.js'
import { ADMIN_EMAIL, build, CookieJar, csrfFrom, type Harness, multipartBody, type TestContext } from '../helpers/build.js'
import { pngBytes } from '../helpers/fixtures.js'
import { post } from '../helpers/items.js'
import { makePdf } from '../helpers/pdfs.js'
import { lastEvent, libraryRows, order, sessionEvent, startCheckout, successPage, userId } from '../helpers/purchase.js'

interface BundleFields { title?: string, description?: string, price?: string, items?: string[], preview?: Buffer | null, itemsAfterCover?: boolean }

/** POST /admin/bundles as the form sends it: token, text fields, check boxes, then the cover. */
async function createBundle (h: Harness, jar: CookieJar, fields: BundleFields = {}, url = '/admin/bundles') {
  const text: Array<[string, string]> = [['_csrf', await h.csrf(jar)], ['title', fields.title ?? 'The Complete Set'], ['description', fields.description ?? 'Everything, at once.'], ['price', fields.price ?? '12.00']]
  const items: Array<[string, string]> = (fields.items ?? ['alpha', 'beta', 'gamma']).map((slug) => ['items', slug])
  const cover: Array<[string, { data: Buffer, filename: string, type: string }]> = fields.preview === null ? [] : [['preview', { data: fields.preview ?? pngBytes(), filename: 'cover.png', type: 'image/png' }]]
  const parts = fields.itemsAfterCover === true ? [...text, ...cover, ...items] : [...text, ...items, ...cover]
  const { body, contentType } = await multipartBody(parts)
  return await h.request(jar, { method: 'POST', url, headers: { 'content-type': contentType }, payload: body })
}

interface BundleShop { h: Harness, admin: CookieJar, reader: CookieJar, readerId: number }

/** Three items (alpha $5, beta $6, gamma $7, with real PDFs) and a reader; bundles made by each test. */
async function bundleShop (t: TestContext, env: Record<string, string> = {}): Promise<BundleShop> {
  const h = await build(t, env)
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  for (const [title, price] of [['Alpha', '5.00'], ['Beta', '6.00'], ['Gamma', '7.00']] as const) {
    const uploaded = await h.upload(admin, { title, price, file: Buffer.from(await makePdf({ pages: 2, title })) })
    if (uploaded.statusCode !== 303) throw new Error(`upload answered ${uploaded.statusCode}: ${uploaded.body.slice(0, 300)}`)
  }
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  return { h, admin, reader, readerId: await userId(h, 'reader@example.com') }
}

const contentCount = async (h: Harness) => (await h.app.db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n
const idOf = async (h: Harness, slug: string) => (await h.app.db.selectFrom('content').select('id').where('slug', '=', slug).executeTakeFirstOrThrow()).id

/** Bought through Stripe: checkout, paid, the success redirect and the webhook. */
async function buyPaid (h: Harness, jar: CookieJar, slug: string) {
  const { sessionId, order: started } = await startCheckout(h, jar, slug)
  await h.stripe.pay(sessionId)
  const thanks = await successPage(h, jar, sessionId)
  if (thanks.statusCode !== 200) throw new Error(`success page answered ${thanks.statusCode}`)
  const hook = await h.webhook(sessionEvent(h, 'checkout.session.completed', sessionId))
  if (hook.statusCode !== 200) throw new Error(`webhook answered ${hook.statusCode}`)
  return started
}

async function refund (h: Harness, admin: CookieJar, orderId: string, amount?: string) {
  const page = await h.request(admin, { url: `/admin/orders/${orderId}/refund` })
  const form: Record<string, string> = { _csrf: csrfFrom(page.body, 'refund'), refunded: /name="refunded" value="([^"]*)"/.exec(page.body)![1]! }
  if (amount !== undefined) form.amount = amount
  const answer = await h.request(admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form })
  if (answer.statusCode !== 303) throw new Error(`refund answered ${answer.statusCode}: ${answer.body.slice(0, 300)}`)
}

const heldBy = async (h: Harness, userId: number) => Object.fromEntries((await h.app.db.selectFrom('library').innerJoin('content', 'content.id', 'library.content_id')
  .select(['content.slug', 'library.order_id']).where('library.user_id', '=', userId).execute()).map((row) => [row.slug, row.order_id]))

t.test('the desk form lists every item as a check box; a bundle is created, its page lists what it holds', async (t) => {
  const { h, admin, reader } = await bundleShop(t)
  const form = await h.request(admin, { url: '/admin/bundles/new' })
  t.equal(form.statusCode, 200)
  for (const slug of ['alpha', 'beta', 'gamma']) t.match(form.body, new RegExp(`name="items" value="${slug}"`))
  t.match(form.body, 'enctype="multipart/form-data"')
  t.match(form.body, 'name="preview"')
  t.match((await h.request(admin, { url: '/admin' })).body, 'href="/admin/bundles/new"', 'the dashboard links to it')

  const created = await createBundle(h, admin, { items: ['gamma', 'alpha', 'beta'] })
  t.equal(created.statusCode, 303)
  t.equal(created.headers.location, '/content/the-complete-set')
  const row = await h.app.db.selectFrom('content').selectAll().where('slug', '=', 'the-complete-set').executeTakeFirstOrThrow()
  t.match(row, { kind: 'bundle', file_key: '', file_size: 0, sha256: '', price_cents: 1200 })
  t.not(row.preview_key, '')
  const held = await h.app.db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.item_id').select(['content.slug', 'position']).where('bundle_id', '=', row.id).orderBy('position').execute()
  t.same(held.map((r) => r.slug), ['gamma', 'alpha', 'beta'], 'held in the order chosen')
  t.equal((await h.app.db.selectFrom('pdf_jobs').select('id').where('content_id', '=', row.id).execute()).length, 0, 'no PDF job for a bundle')

  const page = await h.request(reader, { url: '/content/the-complete-set' })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'In this bundle')
  for (const [slug, title] of [['alpha', 'Alpha'], ['beta', 'Beta'], ['gamma', 'Gamma']]) t.match(page.body, new RegExp(`href="/content/${slug}"[\\s\\S]*?${title}`))
  t.match(page.body, '2 pages')
  t.match(page.body, 'Buy for $12.00')
  t.notMatch(page.body, 'Look inside')
  t.notMatch(page.body, '/download"')
  const catalogue = await h.request(null, { url: '/' })
  t.match(catalogue.body, 'Bundle · 3 PDFs')
  t.match((await h.request(null, { url: '/content/alpha' })).body, /Also in .*the bundle <a href="\/content\/the-complete-set">The Complete Set<\/a>/)
  const items = await h.request(admin, { url: '/admin/content' })
  t.match(items.body, 'pill bundle-pill">Bundle')

  for (const tail of ['/download', '/sample', '/pages/1']) {
    const answer = await h.request(reader, { url: `/content/the-complete-set${tail}` })
    t.equal(answer.statusCode, 404, `${tail} is 404`)
    t.match(answer.body, 'is a bundle: it has no file of its own')
  }

  // Items sent after the cover count as well (a client that orders the parts otherwise).
  t.equal((await createBundle(h, admin, { title: 'Second Set', items: ['alpha', 'beta'], itemsAfterCover: true })).statusCode, 303)
  t.equal((await h.app.db.selectFrom('bundle_items').select('item_id').where('bundle_id', '=', await idOf(h, 'second-set')).execute()).length, 2)
})

t.test('hostile text is shown as text; a Cyrillic title makes a Cyrillic address', async (t) => {
  const { h, admin } = await bundleShop(t)
  const created = await createBundle(h, admin, { title: 'Сборник <script>alert(1)</script>', description: '<img src=x onerror=alert(1)> **bold**' })
  t.equal(created.statusCode, 303)
  const location = String(created.headers.location)
  t.match(decodeURIComponent(location), /^\/content\/сборник/)
  const page = await h.request(null, { url: location })
  t.equal(page.statusCode, 200)
  t.notMatch(page.body, '<script>alert(1)</script>')
  t.notMatch(page.body, 'onerror=alert(1)>')
  t.match(page.body, '&lt;script&gt;')
  t.match(page.body, '<strong>bold</strong>')
})

t.test('each refusal answers 400 with the form and a message per problem, and saves nothing', async (t) => {
  const { h, admin } = await bundleShop(t)
  t.equal((await createBundle(h, admin, { title: 'A Set', items: ['alpha', 'beta'] })).statusCode, 303)
  const before = await contentCount(h)
  const bundleRows = async () => (await h.app.db.selectFrom('bundle_items').select('item_id').execute()).length
  const rowsBefore = await bundleRows()
  const cases: Array<[string, BundleFields, string[]]> = [
    ['an unknown slug', { items: ['alpha', 'no-such-item'] }, ['There is no item at /content/no-such-item']],
    ['a bundle\'s slug', { items: ['alpha', 'a-set'] }, ['"A Set" is a bundle: a bundle holds items, not other bundles']],
    ['a duplicate', { items: ['alpha', 'beta', 'alpha'] }, ['"Alpha" is chosen twice']],
    ['one item only', { items: ['alpha'] }, ['Choose at least 2 items']],
    ['no item', { items: [] }, ['Choose at least 2 items']],
    ['no cover', { preview: null }, ['Choose a cover image']],
    ['a free bundle', { price: '0' }, ['A bundle is sold: give it a price above 0']],
    ['a bad price', { price: 'abc' }, ['price']],
    ['no title', { title: '  ' }, ['Give the item a title']],
    ['several problems at once', { items: ['nope', 'alpha', 'alpha'], price: '0' }, ['There is no item at /content/nope', '"Alpha" is chosen twice', 'A bundle is sold']]
  ]
  for (const [name, fields, messages] of cases) {
    const answer = await createBundle(h, admin, fields)
    t.equal(answer.statusCode, 400, `${name}: 400`)
    t.match(answer.body, 'id="bundle-form"', `${name}: the form is back`)
    for (const message of messages) t.match(answer.body, message.replaceAll('"', '&quot;'), `${name}: says ${message}`)
  }
  const kept = await createBundle(h, admin, { title: 'Kept values', items: ['alpha', 'no-such-item'] })
  t.match(kept.body, 'value="Kept values"', 'the title typed is kept')
  t.match(kept.body, /value="alpha" checked/, 'the boxes ticked stay ticked')
  t.equal(await contentCount(h), before, 'no row saved')
  t.equal(await bundleRows(), rowsBefore)
  const taken = await createBundle(h, admin, { title: 'A Set' })
  t.equal(taken.statusCode, 409, 'a title whose address is taken')
  t.match(taken.body, 'already exists')
  const signedOut = await h.request(new CookieJar(), { url: '/admin/bundles/new' })
  t.not(signedOut.statusCode, 200, 'the desk only')
})

t.test('a bundle is edited from the desk: title, price, cover, which items; publishing and deleting as for items', async (t) => {
  const { h, admin } = await bundleShop(t)
  await createBundle(h, admin, { items: ['alpha', 'beta'] })
  const edit = await h.request(admin, { url: '/admin/content/the-complete-set/edit' })
  t.equal(edit.statusCode, 200)
  t.match(edit.body, 'action="/admin/bundles/the-complete-set"')
  t.match(edit.body, /value="alpha" checked/)
  t.notMatch(edit.body, /value="gamma" checked/)
  t.notMatch(edit.body, 'value="the-complete-set"', 'a bundle is not offered to itself')
  const saved = await createBundle(h, admin, { title: 'Renamed Set', price: '9.50', items: ['beta', 'gamma'], preview: null }, '/admin/bundles/the-complete-set')
  t.equal(saved.statusCode, 303)
  t.equal(saved.headers.location, '/content/the-complete-set', 'the address stays')
  const row = await h.app.db.selectFrom('content').selectAll().where('slug', '=', 'the-complete-set').executeTakeFirstOrThrow()
  t.match(row, { title: 'Renamed Set', price_cents: 950 })
  const held = await h.app.db.selectFrom('bundle_items').innerJoin('content', 'content.id', 'bundle_items.item_id').select('content.slug').where('bundle_id', '=', row.id).orderBy('position').execute()
  t.same(held.map((r) => r.slug), ['beta', 'gamma'])
  const itself = await createBundle(h, admin, { items: ['beta', 'the-complete-set'] }, '/admin/bundles/the-complete-set')
  t.equal(itself.statusCode, 400)
  t.match(itself.body, 'A bundle cannot hold itself')

  t.equal((await post(h, admin, '/admin/content/the-complete-set/unpublish')).statusCode, 303)
  t.equal((await h.request(null, { url: '/content/the-complete-set' })).statusCode, 404)
  t.equal((await post(h, admin, '/admin/content/the-complete-set/publish')).statusCode, 303)

  const refused = await post(h, admin, '/admin/content/beta/delete')
  t.equal(refused.statusCode, 409, 'an item a bundle holds is not deleted')
  t.match(refused.body, 'is in the bundle &quot;Renamed Set&quot;')
  t.equal((await post(h, admin, '/admin/content/alpha/delete')).statusCode, 303, 'an item no bundle holds is')
  t.equal((await post(h, admin, '/admin/content/the-complete-set/delete')).statusCode, 303, 'a bundle nobody ordered is deleted')
  t.equal((await h.app.db.selectFrom('bundle_items').select('item_id').execute()).length, 0, 'with what it held')
  t.equal((await post(h, admin, '/admin/content/beta/delete')).statusCode, 303, 'then its items can go')
})

t.test('buying a bundle: one order at its price, granted once by redirect and webhook, every item downloadable (each its own stamped copy)', async (t) => {
  const { h, admin, reader, readerId } = await bundleShop(t)
  const saved = await h.request(admin, { method: 'POST', url: '/admin/settings', form: { _csrf: await h.csrf(admin), store_name: 'Stamp Shop', stamp_pdfs: '1' } })
  t.equal(saved.statusCode, 303)
  await createBundle(h, admin)
  const bundleId = await idOf(h, 'the-complete-set')
  const started = await buyPaid(h, reader, 'the-complete-set')
  t.match(started, { content_id: bundleId, amount_cents: 1200 })
  // The webhook again: nothing changes.
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.completed'))).statusCode, 200)
  t.equal((await order(h, started.id)).status, 'paid')
  t.same(await heldBy(h, readerId), { alpha: started.id, beta: started.id, gamma: started.id }, 'each item, none for the bundle')
  t.equal((await libraryRows(h)).length, 3)
  const receipts = await h.app.db.selectFrom('outbox').select('id').where('order_id', '=', started.id).where('kind', '=', 'receipt').execute()
  t.ok(receipts.length <= 1, 'one receipt at most')

  for (const slug of ['alpha', 'beta', 'gamma']) {
    const answer = await h.request(reader, { url: `/content/${slug}/download` })
    t.equal(answer.statusCode, 200, `${slug} downloads`)
    t.equal(answer.headers['content-type'], 'application/pdf')
  }
  const copies = await h.app.db.selectFrom('stamped_copies').select(['content_id', 'key']).where('order_id', '=', started.id).execute()
  t.equal(copies.length, 3, 'three stamped copies for one order')
  t.equal(new Set(copies.map((c) => c.key)).size, 3)
  const page = await h.request(reader, { url: '/content/the-complete-set' })
  t.match(page.body, 'You own everything in this bundle')
  t.notMatch(page.body, 'Buy for')
  const again = await h.request(reader, { method: 'POST', url: '/checkout/the-complete-set', form: { _csrf: await h.csrf(reader) } })
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, '/content/the-complete-set', 'a reader holding it all is sent to its page')
  const library = await h.request(reader, { url: '/library' })
  for (const title of ['Alpha', 'Beta', 'Gamma']) t.match(library.body, title)
})

t.test('a guest buys a bundle: the link lists its items and downloads each', async (t) => {
  const { h, admin } = await bundleShop(t, { GUEST_CHECKOUT: 'true' })
  await createBundle(h, admin)
  const jar = new CookieJar()
  const page = await h.request(jar, { url: '/content/the-complete-set' })
  const buy = await h.request(jar, { method: 'POST', url: '/checkout/the-complete-set', form: { _csrf: csrfFrom(page.body, 'bundle page') } })
  t.equal(buy.statusCode, 303)
  const sessionId = String(buy.headers.location).split('/pay/')[1]!
  await h.stripe.pay(sessionId, 'card', { email: 'guest@example.com' })
  const thanks = await successPage(h, jar, sessionId)
  t.equal(thanks.statusCode, 200)
  const token = /\/d\/([A-Za-z0-9_.-]+)/.exec(thanks.body)?.[1]
  t.ok(token, 'the thank-you page has the link')
  const guest = await userId(h, 'guest@example.com')
  t.equal(Object.keys(await heldBy(h, guest)).length, 3, 'the guest\'s address holds every item')
  const list = await h.request(null, { url: `/d/${token!}` })
  t.equal(list.statusCode, 200)
  for (const slug of ['alpha', 'beta', 'gamma']) {
    t.match(list.body, `?item=${slug}`)
    const file = await h.request(null, { url: `/d/${token!}?item=${slug}` })
    t.equal(file.statusCode, 200, `${slug} downloads by the link`)
    t.equal(file.headers['content-type'], 'application/pdf')
  }
  t.equal((await h.request(null, { url: `/d/${token!}?item=nothing` })).statusCode, 404)
})

t.test('refunds: a full one revokes exactly what no other order grants, a partial one keeps all, an item\'s refund is kept by a bundle', async (t) => {
  const { h, admin, reader, readerId } = await bundleShop(t)
  await createBundle(h, admin)
  const alpha = await buyPaid(h, reader, 'alpha')
  const bundle = await buyPaid(h, reader, 'the-complete-set')
  t.same(await heldBy(h, readerId), { alpha: alpha.id, beta: bundle.id, gamma: bundle.id }, 'alpha stays with its own order')

  await refund(h, admin, bundle.id, '2.00')
  t.same(await heldBy(h, readerId), { alpha: alpha.id, beta: bundle.id, gamma: bundle.id }, 'a partial refund keeps all')

  await refund(h, admin, alpha.id)
  t.same(await heldBy(h, readerId), { alpha: bundle.id, beta: bundle.id, gamma: bundle.id }, 'alpha refunded: the bundle keeps it')
  t.equal((await h.request(reader, { url: '/content/alpha/download' })).statusCode, 200)

  await refund(h, admin, bundle.id)
  t.equal((await order(h, bundle.id)).status, 'refunded')
  t.same(await heldBy(h, readerId), {}, 'nothing left once both are refunded')
  t.equal((await h.request(reader, { url: '/content/beta/download' })).statusCode, 403)
})

t.test('a full refund of a bundle keeps an item bought on its own', async (t) => {
  const { h, admin, reader, readerId } = await bundleShop(t)
  await createBundle(h, admin)
  const alpha = await buyPaid(h, reader, 'alpha')
  const bundle = await buyPaid(h, reader, 'the-complete-set')
  await refund(h, admin, bundle.id)
  t.same(await heldBy(h, readerId), { alpha: alpha.id }, 'beta and gamma revoked, alpha kept')
  t.equal((await h.request(reader, { url: '/content/alpha/download' })).statusCode, 200)
  t.equal((await h.request(reader, { url: '/content/gamma/download' })).statusCode, 403)
  const page = await h.request(reader, { url: '/content/the-complete-set' })
  t.match(page.body, 'Buy for $12.00', 'the bundle can be bought again')
  t.match(page.body, 'You already own 1 of them')
})

t.test('updates and messages to an item\'s buyers reach those who bought it in a bundle', async (t) => {
  const { h, admin, reader } = await bundleShop(t)
  await createBundle(h, admin)
  await buyPaid(h, reader, 'the-complete-set')
  const other = await h.signIn({ email: 'other@example.com', sub: 'other' })
  await buyPaid(h, other, 'gamma')
  t.same(await h.app.outbox.recipients(await idOf(h, 'alpha')), ['reader@example.com'])
  t.same(await h.app.outbox.recipients(await idOf(h, 'gamma')), ['other@example.com', 'reader@example.com'])
})

t.test('the migration on a store with items and orders: every row is an item, stamped copies kept', async (t) => {
  const database = openDatabase(':memory:')
  t.teardown(async () => { await database.close() })
  const db = database.db
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const before = await migrator.migrateTo('0019-tax')
  if (before.error !== undefined) throw before.error
  await sql`INSERT INTO users (provider, subject, email, email_verified, is_admin) VALUES ('test', 'u1', 'u1@example.com', 1, 0)`.execute(db)
  await sql`INSERT INTO content (slug, title, description, price_cents, currency, file_key, file_name, file_size, sha256, preview_key)
    VALUES ('one', 'One', '', 500, 'usd', 'one.pdf', 'one.pdf', 10, '', 'one.png'), ('two', 'Two', '', 700, 'usd', 'two.pdf', 'two.pdf', 10, '', 'two.png')`.execute(db)
  await sql`INSERT INTO orders (id, user_id, content_id, amount_cents, currency, status) VALUES ('o1', 1, 1, 500, 'usd', 'paid'), ('o2', 1, 2, 700, 'usd', 'refunded')`.execute(db)
  await sql`INSERT INTO stamped_copies (order_id, content_id, version, copy_id, key, size) VALUES ('o1', 1, 1, 'c1', 'k1', 5)`.execute(db)
  await migrateToLatest(db as never)
  const typed = db as unknown as import('kysely').Kysely<Database>
  t.same((await typed.selectFrom('content').select(['slug', 'kind']).orderBy('id').execute()), [{ slug: 'one', kind: 'item' }, { slug: 'two', kind: 'item' }])
  t.equal((await typed.selectFrom('orders').select('id').execute()).length, 2)
  t.same(await typed.selectFrom('stamped_copies').select(['order_id', 'content_id', 'version', 'copy_id']).execute(), [{ order_id: 'o1', content_id: 1, version: 1, copy_id: 'c1' }])
  await typed.insertInto('stamped_copies').values({ order_id: 'o1', content_id: 2, version: 1, copy_id: 'c2', key: 'k2', size: 5 }).execute()
  t.pass('a second item\'s copy for the same order and version fits')
})
