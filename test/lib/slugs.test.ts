// backends: sqlite, postgres-s3
import t from 'tap'
import { attachment, MAX_SLUG_LENGTH, slugify } from '../../src/lib/slugs.js'
import { ADMIN_EMAIL, build, csrfFrom } from '../helpers/build.js'
import { edit } from '../helpers/items.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { session, shop, startCheckout, successPage } from '../helpers/purchase.js'

t.test('titles in every script keep their letters in the slug; Latin letters lose their diacritics', async (t) => {
  const cases: Array<[string, string]> = [
    ['Привет мир', 'привет-мир'],
    ['Καλημέρα κόσμε', 'καλημέρα-κόσμε'],
    ['مرحبا بالعالم', 'مرحبا-بالعالم'],
    ['שלום עולם', 'שלום-עולם'],
    ['日本語のタイトル', '日本語のタイトル'],
    ['हिन्दी पुस्तक', 'हिन्दी-पुस्तक'],
    ['Café Crème', 'cafe-creme'],
    ['Straße & Co.', 'strasse-co'],
    ['<script>alert(1)</script> Привет мир', 'script-alert-1-script-привет-мир'],
    ['A Field Guide to Testing!', 'a-field-guide-to-testing'],
    ['Ａ 2024 — Ёлка', 'ａ-2024-ёлка']
  ]
  for (const [title, slug] of cases) t.equal(slugify(title), slug, title)
  t.equal(slugify('Cafe\u0301'), 'cafe', 'a decomposed accent (NFD) is the same letter as a composed one')
  t.equal(slugify('\u0301\u0301 abc'), 'abc', 'a combining mark after no letter is punctuation')
  t.equal(slugify('!!! 🎉🎉 ...'), '', 'punctuation and emoji alone make no slug')
})

t.test('a slug is cut to what the router takes, between whole characters', async (t) => {
  const cyrillic = slugify('Ж'.repeat(120))
  t.equal(cyrillic.length, 120, 'a 120-letter Cyrillic title keeps every letter')
  const astral = slugify('𠀀'.repeat(120))
  t.ok(astral.length <= MAX_SLUG_LENGTH, 'characters outside the BMP count twice and are cut')
  t.equal(astral, '𠀀'.repeat(MAX_SLUG_LENGTH / 2), 'never in the middle of a surrogate pair')
  const marked = slugify('कि'.repeat(150))
  t.ok(marked.length <= MAX_SLUG_LENGTH && marked.endsWith('कि'), 'never between a letter and its vowel sign')
})

t.test('a download named after a slug in another script has an ASCII filename and a UTF-8 filename*', async (t) => {
  t.equal(attachment('a-field-guide.pdf'), 'attachment; filename="a-field-guide.pdf"')
  t.equal(attachment('привет-мир.pdf'), 'attachment; filename="download.pdf"; filename*=UTF-8\'\'%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82-%D0%BC%D0%B8%D1%80.pdf')
  t.equal(attachment('привет-v2.pdf'), 'attachment; filename="v2.pdf"; filename*=UTF-8\'\'%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82-v2.pdf')
  for (const name of ['привет-мир.pdf', 'ok.pdf', '日本.pdf']) t.match(attachment(name), /^[\x20-\x7e]+$/, `${name}: the header is ASCII`)
})

t.test('a title with no letter or digit is refused with a message saying it needs one', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  for (const title of ['!!! ???', '🎉🎉🎉 ✨', '— … —']) {
    const response = await h.upload(admin, { title })
    t.equal(response.statusCode, 400, `${title}: 400`)
    t.match(response.body, /needs at least one letter or digit/, `${title}: says what the title needs`)
  }
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 0, 'nothing stored')
})

t.test('titles in Cyrillic, Greek, Arabic, Hebrew and Japanese are accepted, with their letters in the address', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const titles: Array<[string, string]> = [
    ['Война и мир', 'война-и-мир'],
    ['Ἰλιάς Ὁμήρου', 'ἰλιάς-ὁμήρου'],
    ['ألف ليلة وليلة', 'ألف-ليلة-وليلة'],
    ['ספר הזוהר', 'ספר-הזוהר'],
    ['源氏物語 第一巻', '源氏物語-第一巻'],
    ['Café Crème', 'cafe-creme'],
    // Short titles are whole titles: a two-character classic, a two-letter word.
    ['論語', '論語'],
    ['Go', 'go']
  ]
  for (const [title, slug] of titles) {
    const response = await h.upload(admin, { title })
    t.equal(response.statusCode, 303, `${title}: stored`)
    t.equal(response.headers.location, `/content/${encodeURIComponent(slug)}`, `${title}: 303 to its percent-encoded address`)
    const row = await h.app.db.selectFrom('content').select('slug').where('title', '=', title).executeTakeFirstOrThrow()
    t.equal(row.slug, slug, `${title}: the slug keeps its letters`)
    const page = await h.request(admin, { url: response.headers.location as string })
    t.equal(page.statusCode, 200, `${title}: its page is found by the decoded address`)
  }
  const mixed = await h.upload(admin, { title: '<script>alert(1)</script> Привет мир' })
  t.equal(mixed.headers.location, `/content/${encodeURIComponent('script-alert-1-script-привет-мир')}`, 'a mixed title keeps its Cyrillic')
})

t.test('a Cyrillic item works end to end: catalogue link, page, checkout to Stripe and back, download, edit, publish and delete', async (t) => {
  const title = 'Мастер и Маргарита'
  const slug = 'мастер-и-маргарита'
  const path = `/content/${encodeURIComponent(slug)}`
  const s = await shop(t, {}, { title })
  const { h, admin, reader } = s
  t.equal(s.slug, encodeURIComponent(slug), 'the upload answered 303 to the percent-encoded address')

  const catalogue = await h.request(null, { url: '/' })
  t.match(catalogue.body, `href="${path}"`, 'the catalogue links to the encoded address')
  t.match(catalogue.body, `src="${path}/preview"`, 'and shows its cover from there')
  t.equal((await h.request(null, { url: `${path}/preview` })).statusCode, 200, 'the cover is served')
  t.equal((await h.request(null, { url: `/content/${slug}` })).statusCode, 200, 'a client sending the raw letters finds it too')

  const page = await h.request(reader, { url: path })
  t.equal(page.statusCode, 200)
  t.match(page.body, `action="/checkout/${encodeURIComponent(slug)}"`, 'the Buy form posts to the encoded address')

  const anonymous = await h.request(null, { url: `${path}/download` })
  t.equal(anonymous.statusCode, 302, 'a signed-out download goes to sign in')
  t.equal(anonymous.headers.location, `/login?next=${encodeURIComponent(`${path}/download`)}`, 'and comes back to the same address')

  const started = await startCheckout(h, reader, s.slug)
  const cancel = new URL(session(h, started.sessionId).cancel_url!)
  const cancelled = await h.request(reader, { url: cancel.pathname + cancel.search })
  t.equal(cancelled.statusCode, 200)
  t.match(cancelled.body, `href="${path}"`, 'the cancel page links back to the item')
  await h.stripe.pay(started.sessionId)
  const thanks = await successPage(h, reader, started.sessionId)
  t.equal(thanks.statusCode, 200)
  t.match(thanks.body, `href="${path}/download"`, 'the thank-you page links to the download')
  const again = await h.request(reader, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: await h.csrf(reader) } })
  t.equal(again.statusCode, 303, 'buying it again')
  t.equal(again.headers.location, path, 'goes back to the item, by its encoded address')

  const library = await h.request(reader, { url: '/library' })
  t.match(library.body, `href="${path}/download"`, 'the library links to the download')
  const pdf = await h.request(reader, { url: `${path}/download` })
  t.equal(pdf.statusCode, 200, 'the buyer downloads it')
  t.equal(pdf.headers['content-type'], 'application/pdf')
  t.match(String(pdf.headers['content-disposition']), `filename*=UTF-8''${encodeURIComponent(slug)}.pdf`, 'named after the slug, in UTF-8')

  const editForm = await h.request(admin, { url: `/admin${path}/edit` })
  t.equal(editForm.statusCode, 200, 'the edit form is found')
  t.match(editForm.body, `action="/admin${path}"`, 'and posts to the encoded address')
  const saved = await edit(h, admin, s.slug, { title: 'Мастер и Маргарита (второе издание)', price: '6.00', file: pdfBytes('second'), changelog: 'Второе издание', csrf: csrfFrom(editForm.body, 'the edit form') })
  t.equal(saved.statusCode, 303, 'the edit is saved')
  t.equal(saved.headers.location, path, 'back to the item at the same address')
  const row = await h.app.db.selectFrom('content').select(['slug', 'title']).executeTakeFirstOrThrow()
  t.same(row, { slug, title: 'Мастер и Маргарита (второе издание)' }, 'a new title keeps the slug')

  const csrf = await h.csrf(admin)
  const unpublished = await h.request(admin, { method: 'POST', url: `/admin${path}/unpublish`, form: { _csrf: csrf, next: path } })
  t.equal(unpublished.statusCode, 303)
  t.equal(unpublished.headers.location, path, 'unpublishing from the item\'s page goes back to it')
  const published = await h.request(admin, { method: 'POST', url: `/admin${path}/publish`, form: { _csrf: csrf, next: path } })
  t.equal(published.headers.location, path, 'and so does publishing')

  const items = await h.request(admin, { url: '/admin/content' })
  t.match(items.body, `href="/admin${path}/edit"`, 'the admin list links to the edit form')
})

t.test('an item with a 120-letter Cyrillic title is reached through the router', async (t) => {
  const h = await build(t)
  const admin = await h.signIn({ email: ADMIN_EMAIL })
  const title = 'Щ'.repeat(120)
  const response = await h.upload(admin, { title })
  t.equal(response.statusCode, 303)
  t.equal((response.headers.location as string).length, '/content/'.length + 120 * 6, 'six characters a letter, encoded')
  t.equal((await h.request(admin, { url: response.headers.location as string })).statusCode, 200, 'its page')
  t.equal((await h.request(admin, { url: `${response.headers.location as string}/download` })).statusCode, 200, 'its download')
  t.equal((await h.request(admin, { url: `/admin${response.headers.location as string}/edit` })).statusCode, 200, 'its edit form')
  const csrf = await h.csrf(admin)
  const deleted = await h.request(admin, { method: 'POST', url: `/admin${response.headers.location as string}/delete`, form: { _csrf: csrf } })
  t.equal(deleted.statusCode, 303, 'and it can be deleted')
  t.equal(deleted.headers.location, '/admin')
})
