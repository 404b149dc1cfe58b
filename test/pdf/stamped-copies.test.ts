// backends: sqlite, postgres-s3
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createPdfPool } from '../../src/modules/pdf/pool.js'
import { type CookieJar, type Harness, multipartBody, type TestContext } from '../helpers/build.js'
import { edit } from '../helpers/items.js'
import { makePdf, ownerEncryptedPdf } from '../helpers/pdfs.js'
import { buy, shop, type Shop } from '../helpers/purchase.js'

const pool = createPdfPool({ threads: 1 })
t.teardown(async () => { await pool.close() })

async function stampOn (h: Harness, admin: CookieJar): Promise<void> {
  const saved = await h.request(admin, { method: 'POST', url: '/admin/settings', form: { _csrf: await h.csrf(admin), store_name: 'Stamp Shop', stamp_pdfs: '1' } })
  if (saved.statusCode !== 303) throw new Error(`settings answered ${saved.statusCode}`)
}

async function stampedShop (t: TestContext, file?: Buffer): Promise<Shop & { original: Buffer }> {
  const original = file ?? Buffer.from(await makePdf({ pages: 3, title: 'Stamp me' }))
  const s = await shop(t, {}, { file: original, title: 'A Stamped Book' })
  await stampOn(s.h, s.admin)
  return { ...s, original }
}

/** What the engine finds in a file: the marks of a copy. */
async function marksOf (dir: string, bytes: Buffer): Promise<{ copyIds: string[], orderIds: string[] }> {
  const path = join(dir, `read-${Math.random().toString(36).slice(2)}.pdf`)
  await writeFile(path, bytes)
  return await pool.readStamp(path)
}

t.test('with stamp_pdfs on, a buyer downloads their own copy: stamped once, the same bytes every time, Range works', async (t) => {
  const s = await stampedShop(t)
  const { order } = await buy(s)
  const first = await s.h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(first.statusCode, 200)
  t.equal(first.headers['content-type'], 'application/pdf')
  t.not(Buffer.compare(first.rawPayload, s.original), 0, 'not the uploaded bytes')
  const marks = await marksOf(s.h.dir, first.rawPayload)
  t.ok(marks.orderIds.includes(order.id), 'the order id is embedded')
  const copy = await s.h.app.db.selectFrom('stamped_copies').selectAll().executeTakeFirstOrThrow()
  t.equal(copy.order_id, order.id)
  t.ok(marks.copyIds.includes(copy.copy_id), 'the copy id is embedded')
  const second = await s.h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.same(second.rawPayload, first.rawPayload, 'the same bytes the second time')
  const range = await s.h.request(s.reader, { url: `/content/${s.slug}/download`, headers: { range: 'bytes=10-109' } })
  t.equal(range.statusCode, 206)
  t.same(range.rawPayload, first.rawPayload.subarray(10, 110), 'a range of the same copy')
  t.equal((await s.h.app.db.selectFrom('stamped_copies').select('key').execute()).length, 1, 'one copy')

  const asAdmin = await s.h.request(s.admin, { url: `/content/${s.slug}/download` })
  t.same(asAdmin.rawPayload, s.original, 'an admin downloads the file as uploaded')
  const link = s.h.app.links.create(order.id).token
  const byLink = await s.h.request(null, { url: `/d/${link}` })
  t.same(byLink.rawPayload, first.rawPayload, 'the emailed link sends the same copy')
})

t.test('the settings form takes stamp_pdfs as 1 or absent, and says so otherwise', async (t) => {
  const s = await shop(t)
  const bad = await s.h.request(s.admin, { method: 'POST', url: '/admin/settings', form: { _csrf: await s.h.csrf(s.admin), store_name: 'Shop', stamp_pdfs: 'yes' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, /Stamped copies are either on \(1\) or off/)
  t.equal(s.h.app.settings.current().stampPdfs, false, 'nothing saved')
  await stampOn(s.h, s.admin)
  t.equal(s.h.app.settings.current().stampPdfs, true)
  t.match((await s.h.request(s.admin, { url: '/admin/settings' })).body, /name="stamp_pdfs" value="1" checked/)
})

t.test('two downloads at once make one copy; a new version gets its own copy', async (t) => {
  const s = await stampedShop(t)
  await buy(s)
  const [a, b] = await Promise.all([
    s.h.request(s.reader, { url: `/content/${s.slug}/download` }),
    s.h.request(s.reader, { url: `/content/${s.slug}/download` })
  ])
  t.equal(a.statusCode, 200)
  t.equal(b.statusCode, 200)
  t.same(a.rawPayload, b.rawPayload, 'both got the one copy')
  t.equal((await s.h.app.db.selectFrom('stamped_copies').select('key').execute()).length, 1)
  t.equal((await s.h.app.db.selectFrom('pdf_jobs').select('id').where('kind', '=', 'stamp').execute()).length, 1, 'one job')
  const next = await edit(s.h, s.admin, s.slug, { title: 'A Stamped Book', changelog: 'Fixed typos.', file: Buffer.from(await makePdf({ pages: 4 })) })
  t.equal(next.statusCode, 303)
  const v2 = await s.h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(v2.statusCode, 200)
  const copies = await s.h.app.db.selectFrom('stamped_copies').select(['version']).orderBy('version').execute()
  t.same(copies.map((c) => c.version), [1, 2], 'version 2 has its own copy')
  const v1 = await s.h.request(s.reader, { url: `/content/${s.slug}/download?version=1` })
  t.same(v1.rawPayload, a.rawPayload, 'version 1 is still the first copy')
})

t.test('stamping off, free items and PDFs that cannot be stamped are sent as uploaded', async (t) => {
  const off = await shop(t, {}, { file: Buffer.from(await makePdf({ pages: 2 })), title: 'Plain Book' })
  await buy(off)
  const plain = await off.h.request(off.reader, { url: `/content/${off.slug}/download` })
  t.equal(plain.statusCode, 200)
  t.equal((await off.h.app.db.selectFrom('stamped_copies').select('key').execute()).length, 0, 'stamping off: no copy')

  const locked = Buffer.from(await ownerEncryptedPdf())
  const s = await stampedShop(t, locked)
  await buy(s)
  const sent = await s.h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(sent.statusCode, 200, 'a stamp never blocks a download')
  const row = await s.h.app.db.selectFrom('content_versions').select('stamp_problem').executeTakeFirstOrThrow()
  if (row.stamp_problem !== null) {
    t.same(sent.rawPayload, locked, 'an unstampable PDF goes out as uploaded')
    t.match((await s.h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })).body, /unstamped/)
  }

  const free = await s.h.upload(s.admin, { title: 'A Free Book', price: '0', file: Buffer.from(await makePdf({ pages: 1 })) })
  t.equal(free.statusCode, 303)
  const got = await s.h.request(s.reader, { url: '/content/a-free-book/download' })
  t.equal(got.statusCode, 200)
  t.equal((await s.h.app.db.selectFrom('stamped_copies').select('key').execute()).length, 0, 'free items are not stamped')
})

t.test('/admin/trace names the order of a stamped copy, also re-saved or with the visible line cut; other files carry none', async (t) => {
  const s = await stampedShop(t)
  const { order } = await buy(s)
  const copy = (await s.h.request(s.reader, { url: `/content/${s.slug}/download` })).rawPayload
  const traceOf = async (bytes: Buffer | null, jar: CookieJar | null = s.admin, fileName = 'found.pdf') => {
    const csrf = jar === null ? 'none' : await s.h.csrf(jar)
    const { body, contentType } = await multipartBody([['_csrf', csrf], ...(bytes === null ? [] : [['file', { data: bytes, filename: fileName, type: 'application/pdf' }] as [string, { data: Buffer, filename: string, type: string }]])])
    return await s.h.request(jar, { method: 'POST', url: '/admin/trace', headers: { 'content-type': contentType }, payload: body })
  }
  const form = await s.h.request(s.admin, { url: '/admin/trace' })
  t.equal(form.statusCode, 200)
  t.match(form.body, /name="file"/)

  const found = await traceOf(copy)
  t.equal(found.statusCode, 200)
  t.match(found.body, new RegExp(order.id), 'the order id')
  t.match(found.body, /reader@example\.com/, 'the buyer')
  t.match(found.body, /A Stamped Book/, 'the item')
  t.match(found.body, /version 1/)
  t.match(found.body, /Downloads \(1\)/, 'its downloads')

  const { PDFDocument } = await import('@cantoo/pdf-lib')
  const resaved = Buffer.from(await (await PDFDocument.load(copy)).save({ useObjectStreams: true }))
  t.match((await traceOf(resaved)).body, new RegExp(order.id), 'after a re-save by another tool')

  const none = await traceOf(s.original)
  t.equal(none.statusCode, 200)
  t.match(none.body, /No stamp of this store/)
  t.match((await traceOf(Buffer.from('not a pdf at all'))).body, /must be a PDF/)
  t.equal((await traceOf(Buffer.from('not a pdf at all'))).statusCode, 400)
  t.equal((await traceOf(null)).statusCode, 400, 'no file: 400')
  t.equal((await traceOf(copy, s.reader)).statusCode, 403, 'readers cannot trace')
})
