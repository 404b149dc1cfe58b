// backends: sqlite, postgres-s3
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, Migrator, SqliteDialect } from 'kysely'
import t, { type Test } from 'tap'
import { migrations } from '../../migrations/index.js'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { ageStored, removeStored, storeNames } from '../helpers/backend.js'
import { type Harness, testEnv } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { edit, item, post, versionRows } from '../helpers/items.js'
import { buy, shop } from '../helpers/purchase.js'

const MINUTE = 60_000

/** Another app on the same database and folder (a restart), on the harness's Stripe and provider. */
async function restart (t: Test, h: Harness) {
  const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url)))
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

/** The shop's item with a second version ("Chapter 3 rewritten"). */
async function twoVersions (t: Test) {
  const s = await shop(t)
  const response = await edit(s.h, s.admin, s.slug, { title: 'A Field Guide to Testing', file: pdfBytes('Second edition'), fileName: 'guide-2.pdf', changelog: 'Chapter 3 rewritten' })
  if (response.statusCode !== 303) throw new Error(`edit answered ${response.statusCode}: ${response.body.slice(0, 300)}`)
  return s
}

t.test('migration 0008 gives every existing item its version 1 from its content row', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'market-versions-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(join(dir, 'db.sqlite')) }) })
  t.teardown(async () => { await db.destroy() })
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0008'))
  await new Migrator({ db, provider: { getMigrations: async () => before } }).migrateToLatest()
  await db.insertInto('content').values({
    slug: 'old-item', title: 'Old Item', price_cents: 500, currency: 'usd', file_key: 'k.pdf', file_name: 'old.pdf', file_size: 123, sha256: 'abc', preview_key: 'p.png', created_at: '2025-01-02T03:04:05.000Z'
  }).execute()
  const result = await new Migrator({ db, provider: { getMigrations: async () => migrations } }).migrateToLatest()
  t.equal(result.error, undefined)
  const rows = await db.selectFrom('content_versions').selectAll().execute()
  t.same(rows, [{ content_id: 1, version: 1, file_key: 'k.pdf', file_name: 'old.pdf', file_size: 123, sha256: 'abc', changelog: '', created_at: '2025-01-02T03:04:05.000Z', page_count: null, pdf_title: null, pdf_author: null, stamp_problem: null }])
  // Migration 0017 gave the existing item a job to read its facts and make its page images.
  t.same((await db.selectFrom('pdf_jobs').select(['kind', 'content_id', 'version', 'pages']).execute()), [{ kind: 'render', content_id: 1, version: 1, pages: 3 }])
})

t.test('an upload writes version 1; a new PDF on the edit page becomes version 2 with its changelog, and the item points at it', async (t) => {
  const s = await shop(t)
  const { h } = s
  const first = await item(h, s.slug)
  t.same(await versionRows(h, first.id), [{ version: 1, file_key: first.file_key, changelog: '' }])

  const response = await edit(h, s.admin, s.slug, { title: first.title, file: pdfBytes('Second edition'), fileName: 'guide-2.pdf', changelog: '  Chapter 3 rewritten  ' })
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, `/content/${s.slug}`)
  const latest = await item(h, s.slug)
  t.not(latest.file_key, first.file_key)
  t.equal(latest.file_name, 'guide-2.pdf')
  t.equal(latest.file_size, pdfBytes('Second edition').length)
  t.same(await versionRows(h, first.id), [
    { version: 1, file_key: first.file_key, changelog: '' },
    { version: 2, file_key: latest.file_key, changelog: 'Chapter 3 rewritten' }
  ])
  const files = (await storeNames(h.config.storage)).filter((n) => !n.startsWith('.'))
  t.same(files.sort(), [first.file_key, latest.file_key, latest.preview_key].sort(), 'both versions\' files are kept')
  const page = await h.request(s.admin, { url: `/content/${s.slug}` })
  t.match(page.body, 'version 2', 'the flash names the version')
})

t.test('the item page lists versions with their changelog; download links only for those who may download', async (t) => {
  const s = await twoVersions(t)
  const { h } = s
  await buy(s)
  const owner = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.match(owner.body, /Version 2<\/strong> \(latest\)[\s\S]*Chapter 3 rewritten[\s\S]*Version 1<\/strong>[\s\S]*First release\./)
  t.match(owner.body, `href="/content/${s.slug}/download?version=1"`)
  t.match(owner.body, 'Download version 2')
  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  for (const [who, jar] of [['a stranger', bob], ['anonymous', null]] as const) {
    const page = await h.request(jar, { url: `/content/${s.slug}` })
    t.match(page.body, 'Chapter 3 rewritten', `${who} sees the changelog`)
    t.notMatch(page.body, '?version=', `${who} gets no version links`)
  }
})

t.test('?version=N serves an earlier version to owners and admins; strangers 403, unknown 404, non-integer 400', async (t) => {
  const s = await twoVersions(t)
  const { h } = s
  await buy(s)
  for (const [who, jar] of [['the owner', s.reader], ['an admin', s.admin]] as const) {
    const v1 = await h.request(jar, { url: `/content/${s.slug}/download?version=1` })
    t.equal(v1.statusCode, 200, `${who}: version 1`)
    t.same(v1.rawPayload, pdfBytes(), `${who}: byte-identical to the first upload`)
    t.match(v1.headers['content-disposition'], `${s.slug}-v1.pdf`)
    const latest = await h.request(jar, { url: `/content/${s.slug}/download` })
    t.same(latest.rawPayload, pdfBytes('Second edition'), `${who}: without version, the latest`)
    t.same((await h.request(jar, { url: `/content/${s.slug}/download?version=2` })).rawPayload, pdfBytes('Second edition'), `${who}: version 2 by number`)
    const unknown = await h.request(jar, { url: `/content/${s.slug}/download?version=3` })
    t.equal(unknown.statusCode, 404, `${who}: unknown version 404`)
    t.match(unknown.body, /has no version 3/)
    for (const bad of ['abc', '1.5', '-1', '']) {
      const response = await h.request(jar, { url: `/content/${s.slug}/download?version=${bad}` })
      t.equal(response.statusCode, 400, `${who}: version=${bad} is 400`)
      t.match(response.body, /The version must be a whole number/)
    }
  }
  const reader = await h.app.db.selectFrom('users').select('id').where('email', '=', 'reader@example.com').executeTakeFirstOrThrow()
  const recorded = await h.app.db.selectFrom('downloads').select('version').where('user_id', '=', reader.id).orderBy('id').execute()
  t.same(recorded.map((row) => row.version), [1, 2, 2], 'each download records the version served')

  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  t.equal((await h.request(bob, { url: `/content/${s.slug}/download?version=1` })).statusCode, 403, 'a stranger: 403')
  const anonymous = await h.request(null, { url: `/content/${s.slug}/download?version=1` })
  t.equal(anonymous.statusCode, 302, 'anonymous: sent to sign in')
  t.match(anonymous.headers.location, /^\/login\?next=/)
})

t.test('the library marks an item Updated after a new version, until the reader downloads it', async (t) => {
  const s = await shop(t)
  const { h } = s
  await buy(s)
  t.notMatch((await h.request(s.reader, { url: '/library' })).body, 'pill updated', 'a fresh purchase is not "Updated"')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)

  await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', file: pdfBytes('Second edition'), changelog: 'Typos fixed' })
  t.match((await h.request(s.reader, { url: '/library' })).body, /pill updated">Updated/, 'Updated after the new version')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)
  t.notMatch((await h.request(s.reader, { url: '/library' })).body, 'pill updated', 'not after downloading it')

  // A reader who bought and never downloaded sees it too once a version comes after the purchase.
  await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', file: pdfBytes('Third edition'), changelog: 'More' })
  t.match((await h.request(s.reader, { url: '/library' })).body, /Updated/)
})

t.test('the start-up sweep keeps every version\'s file; a missing older one makes /healthz degraded', async (t) => {
  const s = await twoVersions(t)
  const { h } = s
  const [v1, v2] = await versionRows(h, (await item(h, s.slug)).id)
  // Old enough to be a crash's leftover if no row accounted for it.
  const storage = h.config.storage
  for (const name of (await storeNames(storage)).filter((n) => !n.startsWith('.'))) await ageStored(storage, name, 5 * MINUTE)
  const app = await restart(t, h)
  const quarantined = storage.kind === 'folder'
    ? await readdir(join(storage.dir, '.quarantine')).catch(() => [])
    : (await storeNames(storage)).filter((n) => n.startsWith('.quarantine/'))
  t.same(quarantined, [], 'nothing quarantined')
  t.ok((await storeNames(storage)).includes(v1!.file_key), 'the first version\'s file is in place')
  t.same((await app.inject('/healthz')).json(), { status: 'ok' })

  await removeStored(storage, v1!.file_key)
  const again = await restart(t, h)
  const health = await again.inject('/healthz')
  t.equal(health.statusCode, 503)
  t.same(health.json(), { status: 'degraded', missingFiles: 1 }, 'the missing older version is counted')
  t.ok(v2)
})

t.test('flush removes every version with the items', async (t) => {
  const s = await twoVersions(t)
  const { h } = s
  t.equal((await post(h, s.admin, '/admin/flush')).statusCode, 303)
  t.same(await h.app.db.selectFrom('content_versions').selectAll().execute(), [])
  t.same(await storeNames(h.config.storage), ['.store-id'])
})
