// backends: sqlite, postgres-s3
import t, { type Test } from 'tap'
import { ifRangeHolds } from '../../src/modules/delivery/send-pdf.js'
import { rangeAsked } from '../../src/modules/delivery/downloads.js'
import { downloadRows, fetchLink, type LinkShop, linkShop } from '../helpers/link-shop.js'

/** Moves every download's timestamps `ms` into the past, as if that much time had gone by. */
async function age (s: LinkShop, ms: number): Promise<void> {
  for (const row of await s.h.app.db.selectFrom('downloads').select(['id', 'downloaded_at', 'last_request_at']).execute()) {
    const back = (iso: string | null): string | null => iso === null ? null : new Date(Date.parse(iso) - ms).toISOString()
    await s.h.app.db.updateTable('downloads').set({ downloaded_at: back(row.downloaded_at)!, last_request_at: back(row.last_request_at) }).where('id', '=', row.id).execute()
  }
}

/** A refusal past the limit: the 403 page, no byte of the PDF. */
function refused (t: Test, answer: Awaited<ReturnType<typeof fetchLink>>, what: string): void {
  t.equal(answer.statusCode, 403, `${what}: 403`)
  t.notMatch(answer.headers['content-type'], /pdf/, `${what}: not a PDF`)
  t.notOk(answer.rawPayload.includes('%PDF-'), `${what}: no byte of the file`)
  t.equal(answer.headers['content-range'], undefined, `${what}: no range`)
}

t.test('a Range header is read as the bytes it asks for, and where it starts', async (t) => {
  t.equal(rangeAsked(undefined, 1000), 'whole')
  t.same(rangeAsked('bytes=0-99', 1000), { start: 0, bytes: 100 })
  t.same(rangeAsked('bytes=500-', 1000), { start: 500, bytes: 500 })
  t.same(rangeAsked('bytes=900-5000', 1000), { start: 900, bytes: 100 }, 'clamped to the file')
  t.same(rangeAsked('bytes=-10', 1000), { start: 990, bytes: 10 }, 'a suffix starts near the end')
  t.equal(rangeAsked('bytes=5-9, 20-29', 1000), 'whole', 'several ranges: the servers send the whole file')
  t.equal(rangeAsked('bytes= 5-9', 1000), 'whole', 'a range the object store path does not read is the whole file')
  t.equal(rangeAsked('bytes=2000-', 1000), 'unsatisfiable')
  t.equal(rangeAsked('bytes=-0', 1000), 'unsatisfiable')
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

t.test('past DOWNLOAD_LIMIT every request that would send the whole file is a 403 that sends nothing: no Range, a Range from byte 0, a Range whose If-Range does not match, several ranges', async (t) => {
  const s = await linkShop(t, { DOWNLOAD_LIMIT: '1' })
  const first = await fetchLink(s)
  t.equal(first.statusCode, 200, 'the one download allowed')
  const etag = first.headers.etag as string
  const modified = first.headers['last-modified'] as string
  t.ok(etag, 'the download carried an ETag')
  t.ok(modified, 'and a Last-Modified')

  refused(t, await fetchLink(s), 'no Range')
  refused(t, await fetchLink(s, { range: 'bytes=0-' }), 'a Range from byte 0')
  refused(t, await fetchLink(s, { range: 'bytes=0-99' }), 'a Range from byte 0 to 99')
  refused(t, await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': '"not-this-file"' } }), 'If-Range with another ETag')
  refused(t, await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': 'W/"0-0"' } }), 'If-Range with another weak ETag')
  refused(t, await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': 'Thu, 01 Jan 2015 00:00:00 GMT' } }), 'If-Range with a date before the file\'s')
  refused(t, await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': 'yesterday' } }), 'If-Range that is neither')
  refused(t, await fetchLink(s, { range: 'bytes=1-5, 10-' }), 'several ranges')
  refused(t, await fetchLink(s, { range: `bytes=${s.pdf.length}-` }), 'a range beyond the end')
  t.equal((await downloadRows(s)).length, 1, 'the refusals counted nothing')

  // The same client continuing the download it was let in for.
  const resumed = await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': etag } })
  t.equal(resumed.statusCode, 206, 'a continuation whose If-Range is the ETag sent')
  t.same(resumed.rawPayload, s.pdf.subarray(1))
  t.equal((await fetchLink(s, { range: 'bytes=1000-', headers: { 'if-range': modified } })).statusCode, 206, 'or the Last-Modified sent')
  t.equal((await fetchLink(s, { range: 'bytes=2000-' })).statusCode, 206, 'or without If-Range')
  refused(t, await fetchLink(s, { range: 'bytes=1-', headers: { 'if-range': etag }, agent: 'Another/1.0' }), 'another client\'s continuation')
  const rows = await downloadRows(s)
  t.equal(rows.length, 1, 'still one download')
  t.match(rows[0], { requests: 4 })
})

t.test('a download can be continued within a fixed window from its first request: requests inside it do not extend it, and past the limit a continuation after it is a 403', async (t) => {
  const s = await linkShop(t, { DOWNLOAD_LIMIT: '1' })
  const window = s.h.app.downloads.window
  t.equal((await fetchLink(s)).statusCode, 200)
  // A client asking for a range every 8 minutes, for longer than the window.
  const step = 8 * 60_000
  let elapsed = 0
  while (elapsed + step < window) {
    await age(s, step)
    elapsed += step
    t.equal((await fetchLink(s, { range: 'bytes=1000-' })).statusCode, 206, `a continuation ${elapsed / 60_000} minutes after the download began`)
  }
  await age(s, step)
  elapsed += step
  refused(t, await fetchLink(s, { range: 'bytes=1000-' }), `a continuation ${elapsed / 60_000} minutes after the download began`)
  t.equal((await downloadRows(s)).length, 1, 'one download counted')
})

t.test('below the limit a continuation after the fixed window is a new download', async (t) => {
  const s = await linkShop(t, { DOWNLOAD_LIMIT: '2' })
  const window = s.h.app.downloads.window
  t.equal((await fetchLink(s, { range: 'bytes=0-999' })).statusCode, 206)
  await age(s, window - 60_000)
  t.equal((await fetchLink(s, { range: 'bytes=1000-1999' })).statusCode, 206, 'inside the window')
  t.equal((await downloadRows(s)).length, 1, 'the same download')
  await age(s, 2 * 60_000)
  t.equal((await fetchLink(s, { range: 'bytes=2000-2999' })).statusCode, 206, 'after it: a new download, the second allowed')
  t.equal((await downloadRows(s)).length, 2)
  await age(s, window + 60_000)
  refused(t, await fetchLink(s, { range: 'bytes=3000-3999' }), 'after that one\'s window too, past the limit')
})

t.test('If-Range is read as each server reads it: @fastify/send, nginx and the object store', async (t) => {
  const file = { size: 0x1000, modified: new Date(Date.UTC(2025, 0, 31, 12, 0, 0, 250)), etag: '"abc"' }
  const date = file.modified.toUTCString()
  const earlier = new Date(file.modified.getTime() - 1000).toUTCString()
  const later = new Date(file.modified.getTime() + 1000).toUTCString()
  const sendTag = `W/"1000-${file.modified.getTime().toString(16)}"`
  const nginxTag = `"${Math.floor(file.modified.getTime() / 1000).toString(16)}-1000"`
  t.ok(ifRangeHolds(sendTag, file, 'send'), 'send: its weak ETag')
  t.notOk(ifRangeHolds(nginxTag, file, 'send'), 'send: not nginx\'s')
  t.ok(ifRangeHolds(date, file, 'send'), 'send: the file\'s date')
  t.ok(ifRangeHolds(later, file, 'send'), 'send: a later date')
  t.notOk(ifRangeHolds(earlier, file, 'send'), 'send: not an earlier date')
  t.ok(ifRangeHolds(nginxTag, file, 'nginx'), 'nginx: its strong ETag')
  t.notOk(ifRangeHolds(sendTag, file, 'nginx'), 'nginx: not send\'s')
  t.ok(ifRangeHolds(date, file, 'nginx'), 'nginx: the file\'s date')
  t.notOk(ifRangeHolds(later, file, 'nginx'), 'nginx: the very date only')
  t.ok(ifRangeHolds('"abc"', file, 's3'), 'object store: the object\'s ETag')
  t.notOk(ifRangeHolds('"abd"', file, 's3'), 'object store: not another')
  t.notOk(ifRangeHolds('"abc"', { ...file, etag: null }, 's3'), 'object store: no ETag, no match')
  t.ok(ifRangeHolds(later, file, 's3'), 'object store: a later date')
  t.notOk(ifRangeHolds(earlier, file, 's3'), 'object store: not an earlier date')
  t.notOk(ifRangeHolds('not a date', file, 's3'), 'neither an ETag nor a date')
})
