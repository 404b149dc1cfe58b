// backends: sqlite, postgres-s3
import { PDFDocument } from '@cantoo/pdf-lib'
import t from 'tap'
import { ADMIN_EMAIL, build } from '../helpers/build.js'
import { edit, item, post } from '../helpers/items.js'
import { makePdf, noPagesPdf, notAPdf, ownerEncryptedPdf, userEncryptedPdf } from '../helpers/pdfs.js'

const pdf = async (pages: number): Promise<Buffer> => Buffer.from(await makePdf({ pages, title: 'A Book of Pages', author: 'Ada' }))

t.test('an upload reads the page count; the item page shows it, page images and a sample for anyone who may see it', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const up = await h.upload(admin, { title: 'Seven Pages', file: await pdf(7), extra: { preview_pages: '2', sample_pages: '3' } })
  t.equal(up.statusCode, 303)
  const row = await item(h, 'seven-pages')
  t.equal(row.page_count, 7)
  t.equal(row.preview_pages, 2)
  t.equal(row.sample_pages, 3)
  const version = await h.app.db.selectFrom('content_versions').selectAll().where('content_id', '=', row.id).executeTakeFirstOrThrow()
  t.equal(version.page_count, 7)
  t.equal(version.pdf_title, 'A Book of Pages')
  t.equal(version.pdf_author, 'Ada')
  t.equal(version.stamp_problem, null)

  const before = await h.request(null, { url: '/content/seven-pages' })
  t.match(before.body, /7 pages/, 'the page count is on the item page')
  t.notMatch(before.body, /class="page-strip"/, 'the cover alone until the images are made')
  t.match(before.body, /href="\/content\/seven-pages\/sample"/, 'the sample is offered')

  for (const n of [1, 2]) {
    const image = await h.request(null, { url: `/content/seven-pages/pages/${n}` })
    t.equal(image.statusCode, 200, `page ${n}`)
    t.match(image.headers['content-type'], /^image\/(webp|png|jpeg)/)
    t.ok(image.rawPayload.length > 1000, 'an image of some size')
  }
  for (const n of ['3', '0', '99', 'x']) {
    const beyond = await h.request(null, { url: `/content/seven-pages/pages/${n}` })
    t.ok(beyond.statusCode === 404 || beyond.statusCode === 400, `page ${n}: ${beyond.statusCode}`)
  }
  const after = await h.request(null, { url: '/content/seven-pages' })
  t.match(after.body, /class="page-strip"/, 'the strip once the images are made')
  t.match(after.body, /src="\/content\/seven-pages\/pages\/2"/)
  t.notMatch(after.body, /pages\/3"/)

  const sample = await h.request(null, { url: '/content/seven-pages/sample' })
  t.equal(sample.statusCode, 200)
  t.equal(sample.headers['content-type'], 'application/pdf')
  t.match(sample.headers['content-disposition'], /attachment; filename="seven-pages-sample.pdf"/)
  const doc = await PDFDocument.load(sample.rawPayload)
  t.equal(doc.getPageCount(), 3, 'the first sample_pages pages')
  const again = await h.request(null, { url: '/content/seven-pages/sample' })
  t.same(again.rawPayload, sample.rawPayload, 'made once per version: the same bytes')
  t.equal((await h.app.db.selectFrom('pdf_assets').select('key').where('kind', '=', 'sample').execute()).length, 1)
})

t.test('no sample (0) and no pages (0) are 404; an unpublished item\'s pages follow its visibility', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  await h.upload(admin, { title: 'Hidden Pages', file: await pdf(3), extra: { preview_pages: '0', sample_pages: '0' } })
  t.equal((await h.request(null, { url: '/content/hidden-pages/sample' })).statusCode, 404)
  t.equal((await h.request(null, { url: '/content/hidden-pages/pages/1' })).statusCode, 404)
  const edited = await edit(h, admin, 'hidden-pages', { title: 'Hidden Pages', extra: { preview_pages: '3', sample_pages: '1' } })
  t.equal(edited.statusCode, 303)
  t.equal((await h.request(null, { url: '/content/hidden-pages/pages/3' })).statusCode, 200, 'new preview settings make the images')
  t.equal((await post(h, admin, '/admin/content/hidden-pages/unpublish')).statusCode, 303)
  t.equal((await h.request(null, { url: '/content/hidden-pages/pages/1' })).statusCode, 404, 'a stranger does not see an unpublished item\'s pages')
  t.equal((await h.request(null, { url: '/content/hidden-pages/sample' })).statusCode, 404)
  const asAdmin = await h.request(admin, { url: '/content/hidden-pages/pages/1' })
  t.equal(asAdmin.statusCode, 200, 'its admin does')
  t.match(asAdmin.headers['cache-control'], /^private/)
})

t.test('a PDF the engine cannot read is accepted as uploaded and flagged with why, with nothing made from it', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const unreadable: Array<[string, Buffer, RegExp]> = [
    ['password', Buffer.from(await userEncryptedPdf()), /password/i],
    ['no pages', Buffer.from(noPagesPdf()), /page/i],
    ['garbage after the header', Buffer.from(notAPdf()), /PDF/]
  ]
  for (const [index, [what, file, reason]] of unreadable.entries()) {
    const answer = await h.upload(admin, { title: `Unreadable ${index}`, file, extra: { sample_pages: '2' } })
    t.equal(answer.statusCode, 303, `${what}: accepted (a creator may sell a file only some readers open)`)
    const landing = await h.request(admin, { url: answer.headers.location as string })
    t.match(landing.body, /This PDF could not be read/, `${what}: the creator is told`)
    t.match(landing.body, reason, `${what}: with why`)
    t.notMatch(landing.body, /\d+ pages? ·/, `${what}: no page count is claimed`)
    const row = await item(h, `unreadable-${index}`)
    t.equal(row.page_count, null)
    t.equal((await h.request(null, { url: `/content/unreadable-${index}/pages/1` })).statusCode, 404, `${what}: no page images`)
    t.equal((await h.request(null, { url: `/content/unreadable-${index}/sample` })).statusCode, 404, `${what}: no sample`)
    const form = await h.request(admin, { url: `/admin/content/unreadable-${index}/edit` })
    t.match(form.body, /This PDF could not be read/, `${what}: the desk says so too`)
  }
  t.equal((await h.app.db.selectFrom('pdf_jobs').select('id').execute()).length, 0, 'no job for an unreadable PDF')
})

t.test('an owner-password PDF opens without a password: read, and flagged as not stampable', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const locked = await h.upload(admin, { title: 'Owner Locked', file: Buffer.from(await ownerEncryptedPdf()) })
  t.equal(locked.statusCode, 303, 'an owner password alone opens without one: accepted')
  const row = await item(h, 'owner-locked')
  const version = await h.app.db.selectFrom('content_versions').selectAll().where('content_id', '=', row.id).executeTakeFirstOrThrow()
  t.equal(version.page_count, 2)
  t.not(version.stamp_problem, null, 'an encrypted PDF cannot be stamped: flagged with why')
  const landing = await h.request(admin, { url: '/content/owner-locked' })
  t.match(landing.body, /Buyers will get this PDF unstamped/, 'said at upload')
  const form = await h.request(admin, { url: '/admin/content/owner-locked/edit' })
  t.match(form.body, /Buyers get this version unstamped/, 'and in the desk')
})

t.test('the preview fields take whole numbers in range, and say so otherwise', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  for (const [field, value] of [['preview_pages', '11'], ['preview_pages', '-1'], ['preview_pages', 'three'], ['sample_pages', '101'], ['sample_pages', '1.5'], ['sample_pages', '']]) {
    const answer = await h.upload(admin, { title: `Bad ${field} ${value}`, extra: { [field]: value } })
    t.equal(answer.statusCode, 400, `${field}=${JSON.stringify(value)}: 400`)
    t.match(answer.body, field === 'preview_pages' ? /from 0 to 10/ : /from 0 \(no sample\) to 100/)
  }
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 0)
  const defaults = await h.upload(admin, { title: 'Defaults' })
  t.equal(defaults.statusCode, 303)
  const row = await item(h, 'defaults')
  t.equal(row.preview_pages, 3, 'three pages shown by default')
  t.equal(row.sample_pages, 0, 'no sample by default')
  const bad = await edit(h, admin, 'defaults', { title: 'Defaults', extra: { preview_pages: '12' } })
  t.equal(bad.statusCode, 400)
  t.equal((await item(h, 'defaults')).preview_pages, 3, 'a refused edit changes nothing')
})
