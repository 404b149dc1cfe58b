// backends: sqlite, postgres-s3
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Migrator, sql } from 'kysely'
import t from 'tap'
import { migrations } from '../../migrations/index.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { migrateToLatest, openDatabase } from '../../src/db/database.js'
import type { Content, Database } from '../../src/db/types.js'
import { ftsQuery } from '../../src/modules/catalog/catalog.js'
import { build, type Harness, testEnv } from '../helpers/build.js'
import type { Kysely } from 'kysely'

interface Item { title: string, description?: string, price?: number, at?: string, published?: number }

let serial = 0
/** Items straight into the table (no files: the catalogue and search never read them). */
async function insert (db: Kysely<Database>, items: Item[]): Promise<Content[]> {
  const rows = items.map((item) => {
    const n = ++serial
    return {
      slug: `${item.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${n}`,
      title: item.title,
      description: item.description ?? '',
      price_cents: item.price ?? 500,
      currency: 'usd',
      file_key: `f${n}.pdf`,
      file_name: 'f.pdf',
      file_size: 1,
      sha256: '',
      preview_key: `p${n}.png`,
      created_at: item.at ?? new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString(),
      published: item.published ?? 1
    }
  })
  return await db.insertInto('content').values(rows).returningAll().execute()
}

/** The item titles of a catalogue page, in order. */
function titles (html: string): string[] {
  return [...html.matchAll(/<span class="card-title">([^<]*)<\/span>/g)].map((m) => m[1]!)
}

async function get (h: Harness, url: string) {
  return await h.request(null, { url })
}

t.test('the catalogue has a search box: a GET form with a labelled q and a sort select', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [{ title: 'Anything' }])
  const page = await get(h, '/')
  t.match(page.body, /<form class="search" method="get" action="\/" role="search"/)
  t.match(page.body, /<label for="q">Search<\/label>/)
  t.match(page.body, /<input id="q" name="q" type="search"/)
  t.match(page.body, /<label for="sort">Sort by<\/label>\s*<select id="sort" name="sort">/)
  for (const value of ['price', 'title']) t.match(page.body, new RegExp(`<option value="${value}"`))
})

t.test('?q= finds published items by every word, in title or description, any case and accent', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [
    { title: 'Sea Kayaking Maps', description: 'Charts of the northern coast.' },
    { title: 'Mountain Huts', description: 'Where to sleep above the clouds: maps included.' },
    { title: 'Café Recipes', description: 'Coffee and cake.' },
    { title: 'Tax Forms', description: 'Nothing about the sea.' }
  ])
  t.same(titles((await get(h, '/?q=maps')).body).sort(), ['Mountain Huts', 'Sea Kayaking Maps'])
  t.same(titles((await get(h, '/?q=MAPS%20coast')).body), ['Sea Kayaking Maps'], 'every word must match')
  t.same(titles((await get(h, '/?q=cafe')).body), ['Café Recipes'], 'accents do not matter')
  t.same(titles((await get(h, '/?q=%20sea%20%20')).body).sort(), ['Sea Kayaking Maps', 'Tax Forms'])
  const page = await get(h, '/?q=maps')
  t.match(page.body, /2 PDFs match “maps”/)
  t.match(page.body, /<title>Search: maps · PDF Market<\/title>/)
  t.match(page.body, /<input id="q" name="q" type="search" value="maps"/, 'the box keeps the words')
  t.same(titles((await get(h, '/?q=')).body).length, 4, 'an empty q is the plain listing')
})

t.test('an empty result says so and links back to the whole catalogue', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [{ title: 'Sea Kayaking Maps' }])
  const page = await get(h, '/?q=volcano')
  t.equal(page.statusCode, 200)
  t.match(page.body, /No PDFs match “volcano”/)
  t.match(page.body, /Nothing found/)
  t.match(page.body, /<a class="button" href="\/">See every PDF<\/a>/)
  t.same(titles(page.body), [])
})

t.test('without sort, best match first: a word in the title outranks one in the description', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [
    { title: 'Cooking at Home', description: 'One chapter mentions lighthouse keepers.', at: '2026-03-01T00:00:00.000Z' },
    { title: 'The Lighthouse Handbook', description: 'Lamps, lenses and keepers.', at: '2026-01-01T00:00:00.000Z' },
    { title: 'Coastal Walks', description: 'Lighthouse after lighthouse after lighthouse.', at: '2026-02-01T00:00:00.000Z' }
  ])
  const ranked = titles((await get(h, '/?q=lighthouse')).body)
  t.equal(ranked[0], 'The Lighthouse Handbook')
  t.same(ranked.slice(1), ['Coastal Walks', 'Cooking at Home'], 'more mentions rank higher')
  t.same(titles((await get(h, '/?q=lighthouse&sort=new')).body), ['Cooking at Home', 'Coastal Walks', 'The Lighthouse Handbook'], 'sort=new: newest first')
})

t.test('sort=price ascending, title A to Z, new newest first (the default), with and without q', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [
    { title: 'banana guide', price: 300, at: '2026-01-02T00:00:00.000Z' },
    { title: 'Apple guide', price: 900, at: '2026-01-03T00:00:00.000Z' },
    { title: 'Cherry guide', price: 0, at: '2026-01-01T00:00:00.000Z' },
    { title: 'Date notes', price: 100, at: '2026-01-04T00:00:00.000Z' }
  ])
  t.same(titles((await get(h, '/')).body), ['Date notes', 'Apple guide', 'banana guide', 'Cherry guide'], 'newest first by default')
  t.same(titles((await get(h, '/?sort=new')).body), ['Date notes', 'Apple guide', 'banana guide', 'Cherry guide'])
  t.same(titles((await get(h, '/?sort=price')).body), ['Cherry guide', 'Date notes', 'banana guide', 'Apple guide'])
  t.same(titles((await get(h, '/?sort=title')).body), ['Apple guide', 'banana guide', 'Cherry guide', 'Date notes'], 'A to Z whatever the case')
  t.same(titles((await get(h, '/?q=guide&sort=price')).body), ['Cherry guide', 'banana guide', 'Apple guide'])
  t.same(titles((await get(h, '/?q=guide&sort=title')).body), ['Apple guide', 'banana guide', 'Cherry guide'])
  t.same(titles((await get(h, '/?q=guide&sort=new')).body), ['Apple guide', 'banana guide', 'Cherry guide'])
  const odd = await get(h, '/?sort=sideways')
  t.equal(odd.statusCode, 200, 'an unknown order is the default one')
  t.same(titles(odd.body), ['Date notes', 'Apple guide', 'banana guide', 'Cherry guide'])
  t.match((await get(h, '/?sort=price')).body, /<option value="price" selected>/, 'the select shows the order in force')
})

t.test('pages of a search keep q and sort in the pager links', async (t) => {
  const h = await build(t)
  await insert(h.app.db, Array.from({ length: 30 }, (_, i) => ({ title: `River map ${i}`, price: 100 + i })))
  await insert(h.app.db, [{ title: 'Unrelated' }])
  const first = await get(h, '/?q=river+map&sort=price')
  t.same(titles(first.body).slice(0, 2), ['River map 0', 'River map 1'])
  t.equal(titles(first.body).length, 24)
  t.match(first.body, /30 PDFs match “river map”/)
  t.match(first.body, /<a class="button secondary" rel="next" href="\/\?q=river\+map&amp;sort=price&amp;page=2">/)
  const second = await get(h, '/?q=river+map&sort=price&page=2')
  t.same(titles(second.body), Array.from({ length: 6 }, (_, i) => `River map ${24 + i}`))
  t.match(second.body, /rel="prev" href="\/\?q=river\+map&amp;sort=price&amp;page=1"/)
  t.match(second.body, /Page 2 of 2/)
  t.same(titles((await get(h, '/?q=river+map&sort=price&page=99')).body).length, 6, 'past the end: the last page')
  // The plain listing's pager stays as it was; a sorted listing keeps its order.
  t.match((await get(h, '/')).body, /rel="next" href="\/\?page=2"/)
  t.match((await get(h, '/?sort=title')).body, /rel="next" href="\/\?sort=title&amp;page=2"/)
  t.match((await get(h, '/?q=map&page=2')).body, /rel="prev" href="\/\?q=map&amp;page=1"/, 'no sort asked, none added')
})

t.test('hostile queries are searched for as text: never a 5xx, never FTS5 syntax', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [{ title: 'Alpha Beta', description: 'gamma delta' }, { title: 'Title colon', description: 'x' }])
  const hostile = ['"', '""', '*', 'alpha*', 'NEAR(', 'NEAR(alpha beta)', '-', '-alpha', 'alpha -beta', 'title:x', 'title:alpha', '^alpha', 'alpha OR', 'OR', 'AND', 'NOT', 'alpha NOT beta', '(', ')', '{title}: alpha', 'a"b', "'; DROP TABLE content; --", '\\', '%', '\u0000', '🙂', 'x'.repeat(1000), 'alpha '.repeat(500), '"alpha'.repeat(200)]
  for (const q of hostile) {
    const response = await get(h, `/?q=${encodeURIComponent(q)}`)
    t.equal(response.statusCode, 200, `q=${JSON.stringify(q.slice(0, 30))}`)
  }
  t.same(titles((await get(h, '/?q=alpha%20OR%20zzz')).body), [], 'OR is a word to find, not an operator')
  t.same(titles((await get(h, '/?q=description%3Ax')).body), [], 'description:x is the words "description x" side by side, not a column filter')
  t.same(titles((await get(h, '/?q=title%3Acolon')).body), ['Title colon'], 'title:colon finds the words "title colon"')
  t.same(titles((await get(h, '/?q=alpha*')).body), ['Alpha Beta'])
  t.same(titles((await get(h, '/?q=' + encodeURIComponent('alpha '.repeat(500)))).body), ['Alpha Beta'], 'a long repeated query still works')
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 2, 'the table is still there')
})

t.test('ftsQuery quotes each word as a phrase and drops words with nothing to search', async (t) => {
  t.equal(ftsQuery('sea maps'), '"sea" "maps"')
  t.equal(ftsQuery('say "hi"'), '"say" """hi"""')
  t.equal(ftsQuery('NEAR( title:x -y *'), '"NEAR(" "title:x" "-y"')
  t.equal(ftsQuery('  * - " ( '), undefined)
  t.equal(ftsQuery(Array.from({ length: 40 }, (_, i) => `w${i}`).join(' '))?.split(' ').length, 16, 'at most 16 words')
})

t.test('unpublished items are never found', async (t) => {
  const h = await build(t)
  const [hidden] = await insert(h.app.db, [{ title: 'Secret Atlas' }, { title: 'Public Atlas' }])
  await h.app.db.updateTable('content').set({ published: 0 }).where('id', '=', hidden!.id).execute()
  t.same(titles((await get(h, '/?q=atlas')).body), ['Public Atlas'])
  t.match((await get(h, '/?q=atlas')).body, /1 PDF matches/)
  t.same(titles((await get(h, '/?q=secret')).body), [])
  t.same(titles((await get(h, '/?sort=title')).body), ['Public Atlas'], 'nor listed in another order')
})

t.test('triggers keep the index in step with updates and deletes made directly in SQL', async (t) => {
  const h = await build(t)
  const [item] = await insert(h.app.db, [{ title: 'Old Name', description: 'first words' }])
  // Straight SQL on the app's database, past the services (SQLite's FTS5 triggers; PostgreSQL's GIN index follows the rows).
  await sql`UPDATE content SET title = 'New Name', description = 'second words' WHERE id = ${item!.id}`.execute(h.app.db)
  t.same(titles((await get(h, '/?q=old')).body), [], 'the old title is not found')
  t.same(titles((await get(h, '/?q=first')).body), [], 'nor the old description')
  t.same(titles((await get(h, '/?q=new+second')).body), ['New Name'])
  await sql`UPDATE content SET price_cents = 700 WHERE id = ${item!.id}`.execute(h.app.db)
  t.same(titles((await get(h, '/?q=new')).body), ['New Name'], 'an update of other columns leaves the index right')
  await sql`DELETE FROM content WHERE id = ${item!.id}`.execute(h.app.db)
  t.same(titles((await get(h, '/?q=new')).body), [])
  const sqlite = h.app.database.sqlite
  if (sqlite !== undefined) {
    const integrity = sqlite.prepare("INSERT INTO content_fts (content_fts, rank) VALUES ('integrity-check', 1)")
    t.doesNotThrow(() => integrity.run(), 'FTS5 finds the index consistent with the table')
  }
})

t.test('the plain listing and searches are cached until the database changes', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [{ title: 'One' }])
  const found = await h.app.catalog.search('one', 1)
  t.equal(await h.app.catalog.search('one', 1), found, 'a search asked again is the same object')
  const first = await h.app.catalog.page(1)
  t.equal(await h.app.catalog.page(1), first, 'the same object while nothing changes')
  t.not(await h.app.catalog.page(1, 'price'), first, 'another order is another page')
  t.equal(await h.app.catalog.page(1, 'price'), await h.app.catalog.page(1, 'price'))
  await insert(h.app.db, [{ title: 'Two' }])
  const after = await h.app.catalog.page(1)
  t.not(after, first)
  t.equal(after.total, 2)
  await insert(h.app.db, [{ title: 'One more' }])
  const again = await h.app.catalog.search('one', 1)
  t.not(again, found)
  t.equal(again.total, 2, 'the new item is found at once')
})

t.test('the migration indexes the items a database already had', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'market-fts-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const path = join(dir, 'marketplace.db')
  const database = openDatabase(path)
  const names = Object.keys(migrations).sort()
  const before = names[names.indexOf('0009-settings-search') - 1]!
  const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => migrations } })
  const partial = await migrator.migrateTo(before)
  t.equal(partial.error, undefined)
  // A store from before search: items, one of them unpublished.
  const items = await insert(database.db, [{ title: 'Glacier Guide', description: 'ice and snow' }, { title: 'Desert Guide' }, { title: 'Hidden Guide', published: 0 }])
  // Their files, so the app accepts this folder as the database's own (store-binding.ts).
  await mkdir(join(dir, 'content'))
  for (const item of items) for (const key of [item.file_key, item.preview_key]) await writeFile(join(dir, 'content', key), 'x')
  await migrateToLatest(database.db)
  const indexed = database.sqlite!.prepare("SELECT rowid FROM content_fts WHERE content_fts MATCH 'guide'").all()
  t.equal(indexed.length, 3, 'every existing row is in the index')
  await database.close()

  // The app on that database finds them.
  const h = await build(t)
  const config = loadConfig(testEnv(dir, h.stripe.url, h.idp.url))
  const app = await buildApp(config)
  t.teardown(async () => { await app.close() })
  const page = await app.inject({ url: '/?q=guide&sort=title' })
  t.same(titles(page.body), ['Desert Guide', 'Glacier Guide'])
  t.same(titles((await app.inject({ url: '/?q=snow' })).body), ['Glacier Guide'])
})

t.test('a NUL character in a search or a slug is refused or not found, never a failing query (PostgreSQL\'s text holds none)', async (t) => {
  const h = await build(t)
  await insert(h.app.db, [{ title: 'Plain Guide' }])
  for (const url of ['/?q=plain%00guide', '/content/plain-guide%00', '/content/%00/download']) {
    const response = await get(h, url)
    t.ok([200, 400, 404].includes(response.statusCode), `${url} answered ${response.statusCode}`)
    t.match(response.body, /<h1[^>]*>[^<]+<\/h1>/, 'a page with a heading')
  }
})
