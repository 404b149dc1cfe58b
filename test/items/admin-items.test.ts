import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { pdfBytes, pngBytes } from '../helpers/fixtures.js'
import { edit, item, post, versionRows } from '../helpers/items.js'
import { buy, checkout, libraryRows, order, paidAtStripe, shop, startCheckout, successPage } from '../helpers/purchase.js'

/** The stored files' names, the store's own dot-files aside. */
async function storedFiles (dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => !name.startsWith('.')).sort()
}

t.test('the items routes are for admins: readers 403, anonymous visitors sent to sign in', async (t) => {
  const s = await shop(t)
  const { h } = s
  for (const url of ['/admin/content', `/admin/content/${s.slug}/edit`]) {
    t.equal((await h.request(s.reader, { url })).statusCode, 403, `GET ${url}: reader 403`)
    const anonymous = await h.request(null, { url })
    t.equal(anonymous.statusCode, 302, `GET ${url}: anonymous 302`)
    t.match(anonymous.headers.location, /^\/login\?next=/)
  }
  const before = await item(h, s.slug)
  for (const action of ['', '/publish', '/unpublish', '/delete']) {
    const url = `/admin/content/${s.slug}${action}`
    const reader = action === ''
      ? await edit(h, s.reader, s.slug, { title: 'Taken Over' })
      : await post(h, s.reader, url)
    t.equal(reader.statusCode, 403, `POST ${url}: reader 403`)
    const anonymous = await post(h, null, url)
    t.equal(anonymous.statusCode, 303, `POST ${url}: anonymous sent to sign in`)
    t.match(anonymous.headers.location, /^\/login\?next=/)
  }
  t.same(await item(h, s.slug), before, 'nothing changed')
})

t.test('every items form is refused without a valid CSRF token, and changes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  const files = await storedFiles(h.config.contentDir)
  for (const token of [null, 'forged']) {
    const edited = await edit(h, s.admin, s.slug, { title: 'Changed', file: pdfBytes('v2'), changelog: 'new', preview: pngBytes(), csrf: token })
    t.equal(edited.statusCode, 403, `edit with ${String(token)} token: 403`)
    for (const action of ['publish', 'unpublish', 'delete']) {
      t.equal((await post(h, s.admin, `/admin/content/${s.slug}/${action}`, {}, token)).statusCode, 403, `${action} with ${String(token)} token: 403`)
    }
  }
  t.same(await item(h, s.slug), before, 'the row is unchanged')
  t.same(await storedFiles(h.config.contentDir), files, 'no file was stored or removed')
  t.equal((await versionRows(h, before.id)).length, 1, 'no version was added')
})

t.test('the items list shows every item with its state, price, sales, revenue and actions', async (t) => {
  const s = await shop(t)
  const { h } = s
  const second = await h.upload(s.admin, { title: 'Quiet Notes', price: '3.00' })
  t.equal(second.statusCode, 303)
  t.equal((await post(h, s.admin, '/admin/content/quiet-notes/unpublish')).statusCode, 303)
  await buy(s)

  const page = await h.request(s.admin, { url: '/admin/content' })
  t.equal(page.statusCode, 200)
  t.match(page.body, '2 items')
  t.match(page.body, /A Field Guide to Testing[\s\S]*Published[\s\S]*\$5\.00 · 1 sale · \$5\.00 net revenue/, 'the sold item: published, one sale, its revenue')
  t.match(page.body, /Quiet Notes[\s\S]*Unpublished[\s\S]*\$3\.00 · 0 sales · no revenue/, 'the unpublished one is listed too')
  t.match(page.body, `href="/admin/content/${s.slug}/edit"`)
  t.match(page.body, `href="/content/${s.slug}"`)
  t.match(page.body, `action="/admin/content/${s.slug}/unpublish"`)
  t.match(page.body, 'action="/admin/content/quiet-notes/publish"')
  t.match(page.body, 'action="/admin/content/quiet-notes/delete"', 'an item nobody ordered can be deleted')
  t.notMatch(page.body, `action="/admin/content/${s.slug}/delete"`, 'an ordered one offers no delete')
  t.match(page.body, /<details class="confirm">/, 'delete asks for confirmation first')
})

t.test('editing title, description and price keeps the slug and goes to the item page with a message', async (t) => {
  const s = await shop(t)
  const { h } = s
  await h.upload(s.admin, { title: 'Another Item', price: '2.00' })
  const form = await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })
  t.equal(form.statusCode, 200)
  t.match(form.body, 'value="A Field Guide to Testing"', 'the form holds the current values')
  t.match(form.body, 'value="5.00"')
  t.match(form.body, 'enctype="multipart/form-data"')

  // A title whose slug is another item's: fine, the slug does not change.
  const response = await edit(h, s.admin, s.slug, { title: 'Another item!', description: 'Now with more.', price: '7.50' })
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, `/content/${s.slug}`)
  const row = await item(h, s.slug)
  t.equal(row.title, 'Another item!')
  t.equal(row.description, 'Now with more.')
  t.equal(row.price_cents, 750)
  const page = await h.request(s.admin, { url: `/content/${s.slug}` })
  t.match(page.body, 'was saved')
  t.match(page.body, '$7.50')
  t.equal((await h.request(null, { url: '/content/another-item' })).statusCode, 200, 'the other item keeps its own address')
})

t.test('an edit with only a title keeps the other fields, the payment ones included', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  const response = await edit(h, s.admin, s.slug, { title: 'Renamed Guide' })
  t.equal(response.statusCode, 303)
  const after = await item(h, s.slug)
  t.same({ ...after, title: before.title }, before, 'only the title changed')
  t.equal(after.title, 'Renamed Guide')

  // A pay-what-you-want item stays one when a client sends neither of its fields.
  t.equal((await edit(h, s.admin, s.slug, { title: 'Renamed Guide', extra: { pay_what_you_want: '1', min_price: '2.00' } })).statusCode, 303)
  t.equal((await edit(h, s.admin, s.slug, { title: 'Renamed Again' })).statusCode, 303)
  const kept = await item(h, s.slug)
  t.equal(kept.pay_what_you_want, 1)
  t.equal(kept.min_price_cents, 200)
})

t.test('an edit with bad input answers 400 with the form, keeps the values and stores nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  const files = await storedFiles(h.config.contentDir)
  const cases = [
    { name: 'a title too long', fields: { title: 'x'.repeat(121), description: 'kept words', price: '6.00', preview: pngBytes() }, problem: /at most 120 characters/ },
    { name: 'no title', fields: { description: 'kept words' }, problem: /Give the item a title/ },
    { name: 'a bad price', fields: { title: 'Good Title', description: 'kept words', price: '5.555', file: pdfBytes('v2'), changelog: 'x' }, problem: /The price must be a number/ },
    { name: 'a PDF without a changelog', fields: { title: 'Good Title', description: 'kept words', price: '6.00', file: pdfBytes('v2') }, problem: /Say in a line what changed/ },
    { name: 'a changelog too long', fields: { title: 'Good Title', description: 'kept words', price: '6.00', file: pdfBytes('v2'), changelog: 'x'.repeat(301) }, problem: /The changelog must be at most 300 characters long/ },
    { name: 'a file that is not a PDF', fields: { title: 'Good Title', description: 'kept words', price: '6.00', file: pngBytes(), changelog: 'oops' }, problem: /The file must be a PDF/ },
    { name: 'a cover that is not an image', fields: { title: 'Good Title', description: 'kept words', price: '6.00', preview: pdfBytes() }, problem: /The preview must be a PNG, JPEG or WebP image/ }
  ]
  for (const { name, fields, problem } of cases) {
    const response = await edit(h, s.admin, s.slug, fields)
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.match(response.body, problem, `${name}: says why`)
    t.match(response.body, 'id="upload-form"', `${name}: with the form`)
    t.match(response.body, 'kept words', `${name}: the description is kept`)
    if ('price' in fields && fields.price !== undefined) t.match(response.body, `value="${fields.price}"`, `${name}: the price is kept`)
  }
  t.same(await item(h, s.slug), before, 'the row is unchanged')
  t.same(await storedFiles(h.config.contentDir), files, 'no file was stored')
  t.same((await readdir(h.config.contentDir)).filter((n) => n.startsWith('.tmp-')), [], 'no temporary file is left')
  t.equal((await versionRows(h, before.id)).length, 1, 'no version was added')
  t.equal((await edit(h, s.admin, 'no-such-item', { title: 'Whatever' })).statusCode, 404, 'an unknown item: 404')
})

t.test('a new cover replaces the old one: the row points at it and the old file is gone', async (t) => {
  const s = await shop(t)
  const { h } = s
  const before = await item(h, s.slug)
  const cover = pngBytes(30, 40, [10, 200, 10], [200, 10, 10])
  const response = await edit(h, s.admin, s.slug, { title: before.title, preview: cover })
  t.equal(response.statusCode, 303)
  const after = await item(h, s.slug)
  t.not(after.preview_key, before.preview_key)
  t.same(await readFile(join(h.config.contentDir, after.preview_key)), cover)
  t.same(await storedFiles(h.config.contentDir), [after.file_key, after.preview_key].sort(), 'the old cover was removed')
  const preview = await h.request(null, { url: `/content/${s.slug}/preview` })
  t.same(preview.rawPayload, cover, 'the page serves the new cover')
})

t.test('a price edit changes neither a paid order\'s amount nor the amount check of an open checkout', async (t) => {
  const s = await shop(t)
  const { h } = s
  const paid = await buy(s)
  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  const open = await startCheckout(h, bob, s.slug)

  t.equal((await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', price: '9.00' })).statusCode, 303)
  t.equal((await order(h, paid.order.id)).amount_cents, 500, 'the paid order keeps what it paid')
  t.equal((await order(h, open.order.id)).amount_cents, 500, 'the open order keeps its amount')

  // Bob pays the $5.00 his Checkout Session asked for: the order's amount decides, not the new price.
  await h.stripe.pay(open.sessionId)
  const page = await successPage(h, bob, open.sessionId)
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Thank you')
  t.equal((await order(h, open.order.id)).status, 'paid')
  t.ok((await libraryRows(h)).some((row) => row.order_id === open.order.id), 'Bob has it')

  const carol = await h.signIn({ email: 'carol@example.com', sub: 'carol' })
  const later = await startCheckout(h, carol, s.slug)
  t.equal(later.order.amount_cents, 900, 'a new checkout is at the new price')
})

t.test('unpublishing hides an item from strangers; owners keep page, library and download; admins see it with a banner', async (t) => {
  const s = await shop(t)
  const { h } = s
  await buy(s)
  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })

  const response = await post(h, s.admin, `/admin/content/${s.slug}/unpublish`, { next: `/content/${s.slug}` })
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, `/content/${s.slug}`, 'back to where the form was')
  t.equal((await item(h, s.slug)).published, 0)

  t.notMatch((await h.request(null, { url: '/' })).body, 'A Field Guide to Testing', 'absent from the catalogue')
  for (const [who, jar] of [['anonymous', null], ['a reader who does not own it', bob]] as const) {
    t.equal((await h.request(jar, { url: `/content/${s.slug}` })).statusCode, 404, `${who}: the page is 404`)
    t.equal((await h.request(jar, { url: `/content/${s.slug}/preview` })).statusCode, 404, `${who}: the cover is 404`)
  }
  t.equal((await h.request(bob, { url: `/content/${s.slug}/download` })).statusCode, 404, 'a stranger\'s download is 404')
  const refused = await checkout(h, bob, s.slug)
  t.equal(refused.statusCode, 404, 'checkout refused for a stranger')
  t.equal((await h.app.db.selectFrom('orders').select('id').where('user_id', '!=', s.readerId).execute()).length, 0, 'no order was made')

  const owner = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.equal(owner.statusCode, 200, 'the owner keeps the page')
  t.match(owner.body, 'no longer for sale')
  t.match((await h.request(s.reader, { url: '/library' })).body, 'A Field Guide to Testing', 'and the library entry')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200, 'and the download')
  t.equal((await checkout(h, s.reader, s.slug)).statusCode, 303, 'the owner\'s Buy goes back to the page')

  const admin = await h.request(s.admin, { url: `/content/${s.slug}` })
  t.equal(admin.statusCode, 200, 'the admin sees the page')
  t.match(admin.body, /class="banner unpublished"[\s\S]*Unpublished\./)
  t.match(admin.body, `action="/admin/content/${s.slug}/publish"`)
  t.equal((await checkout(h, s.admin, s.slug)).statusCode, 409, 'an admin cannot buy an unpublished item')

  const back = await post(h, s.admin, `/admin/content/${s.slug}/publish`)
  t.equal(back.statusCode, 303)
  t.equal(back.headers.location, '/admin/content', 'back to the list by default')
  t.match((await h.request(null, { url: '/' })).body, 'A Field Guide to Testing', 'in the catalogue again')
  t.equal((await h.request(bob, { url: `/content/${s.slug}` })).statusCode, 200)
  t.equal((await post(h, s.admin, `/admin/content/${s.slug}/publish`, { next: 'https://evil.example/' })).headers.location, '/admin/content', 'never sent elsewhere')
})

t.test('an unpublished free item stays with those who took it and is hidden from everyone else', async (t) => {
  const s = await shop(t)
  const { h } = s
  await h.upload(s.admin, { title: 'Free Sample', price: '0' })
  t.equal((await h.request(s.reader, { url: '/content/free-sample/download' })).statusCode, 200)
  await post(h, s.admin, '/admin/content/free-sample/unpublish')
  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  t.equal((await h.request(bob, { url: '/content/free-sample/download' })).statusCode, 404)
  t.equal((await checkout(h, bob, 'free-sample')).statusCode, 404)
  t.equal((await h.request(s.reader, { url: '/content/free-sample/download' })).statusCode, 200, 'the reader who took it keeps it')
})

t.test('unpublishing an item with an open checkout still fulfils that checkout', async (t) => {
  const s = await shop(t)
  const { h } = s
  const started = await startCheckout(h, s.reader, s.slug)
  t.equal((await post(h, s.admin, `/admin/content/${s.slug}/unpublish`)).statusCode, 303)
  await h.stripe.pay(started.sessionId)
  const page = await successPage(h, s.reader, started.sessionId)
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Thank you')
  t.equal((await order(h, started.order.id)).status, 'paid')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200, 'the buyer downloads it')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}` })).statusCode, 200, 'and sees its page')
})

t.test('deleting an item nobody ordered removes its row, versions and every file in one step', async (t) => {
  const s = await shop(t)
  const { h } = s
  await h.upload(s.admin, { title: 'Short Lived', price: '0' })
  const row = await item(h, 'short-lived')
  t.equal((await edit(h, s.admin, 'short-lived', { title: 'Short Lived', file: pdfBytes('v2'), changelog: 'Second try' })).statusCode, 303)
  const reader = await h.request(s.reader, { url: '/content/short-lived/download' })
  t.equal(reader.statusCode, 200, 'a free download (no order)')

  const response = await post(h, s.admin, '/admin/content/short-lived/delete')
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, '/admin')
  t.equal(await h.app.db.selectFrom('content').select('id').where('id', '=', row.id).executeTakeFirst(), undefined, 'the row is gone')
  t.same(await versionRows(h, row.id), [], 'its versions are gone')
  t.equal((await h.app.db.selectFrom('downloads').select('id').where('content_id', '=', row.id).execute()).length, 0)
  const main = await item(h, s.slug)
  t.same(await storedFiles(h.config.contentDir), [main.file_key, main.preview_key].sort(), 'both versions\' files and the cover are gone')
  t.equal((await h.request(null, { url: '/content/short-lived' })).statusCode, 404)

  // The last item too: the folder is left with the store's marker only.
  t.equal((await post(h, s.admin, `/admin/content/${s.slug}/delete`)).statusCode, 303)
  t.same(await readdir(h.config.contentDir), ['.store-id'], 'the folder holds only .store-id')
  t.equal((await post(h, s.admin, '/admin/content/short-lived/delete')).statusCode, 404, 'deleting twice: 404')
})

t.test('deleting an item someone ordered (even a checkout never paid) answers 409 suggesting unpublish, and removes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  await paidAtStripe(s) // a pending order only
  const before = await item(h, s.slug)
  const files = await storedFiles(h.config.contentDir)
  const response = await post(h, s.admin, `/admin/content/${s.slug}/delete`)
  t.equal(response.statusCode, 409)
  t.match(response.body, /has orders, so it cannot be deleted/)
  t.match(response.body, /Unpublish it instead/)
  t.match(response.body, `action="/admin/content/${s.slug}/unpublish"`, 'with the unpublish button')
  t.same(await item(h, s.slug), before)
  t.same(await storedFiles(h.config.contentDir), files)
})

t.test('admins download any item, see Download instead of Buy and an Edit link', async (t) => {
  const s = await shop(t)
  const { h } = s
  const page = await h.request(s.admin, { url: `/content/${s.slug}` })
  t.match(page.body, `href="/content/${s.slug}/download"`)
  t.notMatch(page.body, `action="/checkout/${s.slug}"`, 'no Buy form')
  t.match(page.body, `href="/admin/content/${s.slug}/edit"`, 'an Edit link')
  const download = await h.request(s.admin, { url: `/content/${s.slug}/download` })
  t.equal(download.statusCode, 200)
  t.same(download.rawPayload, pdfBytes())
  await post(h, s.admin, `/admin/content/${s.slug}/unpublish`)
  t.equal((await h.request(s.admin, { url: `/content/${s.slug}/download` })).statusCode, 200, 'even unpublished')
  const reader = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.equal(reader.statusCode, 404)
})
