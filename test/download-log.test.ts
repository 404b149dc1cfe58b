import t from 'tap'
import { rangeAsked } from '../src/services/downloads.js'
import { downloadRows, fetchLink, linkShop } from './helpers/link-shop.js'

t.test('a Range header is read as the bytes it asks for, and where it starts', async (t) => {
  t.equal(rangeAsked(undefined, 1000), 'whole')
  t.same(rangeAsked('bytes=0-99', 1000), { start: 0, bytes: 100 })
  t.same(rangeAsked('bytes=500-', 1000), { start: 500, bytes: 500 })
  t.same(rangeAsked('bytes=900-5000', 1000), { start: 900, bytes: 100 }, 'clamped to the file')
  t.same(rangeAsked('bytes=-10', 1000), { start: 990, bytes: 10 }, 'a suffix starts near the end')
  t.same(rangeAsked('bytes=0-9, 20-29', 1000), { start: 0, bytes: 20 }, 'several ranges add up')
  t.equal(rangeAsked('bytes=2000-', 1000), 'unsatisfiable')
  t.equal(rangeAsked('items=0-9', 1000), 'whole', 'another unit is ignored: the whole file is sent')
  t.equal(rangeAsked('bytes=9-3', 1000), 'whole', 'a malformed range is ignored too')
})

t.test('library downloads are logged like link downloads: the order, user, bytes, client; Range continuations count once', async (t) => {
  const s = await linkShop(t)
  const url = `/content/${s.slug}/download`
  const agent = { 'user-agent': 'LibraryReader/3.1' }
  t.equal((await s.h.request(s.reader, { url, headers: agent })).statusCode, 200)
  t.equal((await s.h.request(s.reader, { url, headers: { ...agent, range: 'bytes=0-9999' } })).statusCode, 206, 'a second download, by Range from 0')
  for (const start of [10_000, 20_000, 30_000]) {
    t.equal((await s.h.request(s.reader, { url, headers: { ...agent, range: `bytes=${start}-${start + 9999}` } })).statusCode, 206)
  }
  t.equal((await s.h.request(s.reader, { method: 'HEAD', url, headers: agent })).statusCode, 200)
  const rows = await downloadRows(s)
  t.equal(rows.length, 2, 'a full download and one download in four Range requests')
  t.match(rows[0], { order_id: s.orderId, via: 'library', bytes: s.pdf.length, requests: 1, client_address: '127.0.0.1', user_agent: 'LibraryReader/3.1', email: 'reader@example.com' })
  t.match(rows[1], { order_id: s.orderId, via: 'library', bytes: 40_000, requests: 4 })
})

t.test('the library route honours DOWNLOAD_LIMIT per purchase for paid items; admins and free items are not limited', async (t) => {
  const s = await linkShop(t, { DOWNLOAD_LIMIT: '2' })
  await s.h.app.settings.save({ store_name: 'Link Books', tagline: '', contact_email: 'help@linkbooks.example', refund_policy: '' })
  const url = `/content/${s.slug}/download`
  t.equal((await s.h.request(s.reader, { url })).statusCode, 200, 'first, from the library')
  t.equal((await fetchLink(s)).statusCode, 200, 'second, by link: the same purchase')
  const refused = await s.h.request(s.reader, { url })
  t.equal(refused.statusCode, 403)
  t.match(refused.body, 'help@linkbooks.example')
  t.notMatch(refused.headers['content-type'], /pdf/)

  for (let i = 0; i < 3; i++) t.equal((await s.h.request(s.admin, { url })).statusCode, 200, `admin download ${i + 1}`)
  const free = await s.h.upload(s.admin, { title: 'Free Pages', price: '0' })
  t.equal(free.statusCode, 303)
  for (let i = 0; i < 3; i++) t.equal((await s.h.request(s.reader, { url: '/content/free-pages/download' })).statusCode, 200, `free download ${i + 1}`)
})

t.test('the admin\'s order page lists the order\'s downloads: time, bytes, client address, user agent, library or link', async (t) => {
  const s = await linkShop(t)
  t.equal((await s.h.request(s.reader, { url: `/content/${s.slug}/download`, headers: { 'user-agent': 'LibraryReader/3.1' } })).statusCode, 200)
  t.equal((await fetchLink(s, { range: 'bytes=0-4999', address: '198.51.100.23', agent: 'Mozilla/5.0 <Phone>' })).statusCode, 206)
  t.equal((await fetchLink(s, { range: 'bytes=5000-9999', address: '198.51.100.23', agent: 'Mozilla/5.0 <Phone>' })).statusCode, 206)
  // Another item of the same buyer is not this order's.
  await s.h.upload(s.admin, { title: 'Free Pages', price: '0' })
  t.equal((await s.h.request(s.reader, { url: '/content/free-pages/download' })).statusCode, 200)

  const page = await s.h.request(s.admin, { url: `/admin/orders/${s.orderId}` })
  t.equal(page.statusCode, 200)
  const log = page.body.slice(page.body.indexOf('id="downloads-heading"'))
  t.equal((log.match(/<tr>/g) ?? []).length - 1, 2, 'two downloads listed (besides the header row)')
  t.match(log, 'Emailed link')
  t.match(log, 'Library')
  t.match(log, '198.51.100.23')
  t.match(log, '127.0.0.1')
  t.match(log, 'Mozilla/5.0 &lt;Phone&gt;', 'the user agent, escaped')
  t.match(log, 'LibraryReader/3.1')
  t.match(log, `title="${s.pdf.length.toLocaleString('en-US')} bytes"`, 'the full download\'s bytes')
  t.match(log, 'title="10,000 bytes"', 'the Range download\'s bytes, summed')
  t.match(log, '(2 requests)')
  t.match(page.body, /Downloaded[\s\S]*by emailed link/, 'the timeline says which came by link')
  t.notMatch(log, 'free-pages')

  const reader = await s.h.request(s.reader, { url: `/admin/orders/${s.orderId}` })
  t.equal(reader.statusCode, 403, 'readers do not see it')
})

t.test('an order never downloaded says so', async (t) => {
  const s = await linkShop(t)
  const page = await s.h.request(s.admin, { url: `/admin/orders/${s.orderId}` })
  t.match(page.body, 'Not downloaded yet.')
})
