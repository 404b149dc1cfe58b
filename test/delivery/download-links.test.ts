// backends: sqlite, postgres-s3
import { createHash } from 'node:crypto'
import t from 'tap'
import { csrfFrom, setCookies } from '../helpers/build.js'
import { downloadRows, fetchLink, linkShop, post } from '../helpers/link-shop.js'
import { order, startCheckout, successPage } from '../helpers/purchase.js'

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex')

t.test('a valid link serves the PDF byte-identical, with Range (206/416), HEAD and ETag, as an attachment, to anyone holding it', async (t) => {
  const s = await linkShop(t)
  const full = await fetchLink(s)
  t.equal(full.statusCode, 200)
  t.equal(full.headers['content-type'], 'application/pdf')
  t.match(String(full.headers['content-disposition']), /^attachment; filename="?linked-book\.pdf"?$/)
  t.equal(full.headers['cache-control'], 'private')
  t.equal(full.headers['x-content-type-options'], 'nosniff')
  t.ok(full.headers.etag, 'ETag is sent')
  t.equal(sha(full.rawPayload), sha(s.pdf), 'byte-identical to the upload')
  t.same(setCookies(full), [], 'no session is started to download')

  const head = await fetchLink(s, { method: 'HEAD' })
  t.equal(head.statusCode, 200)
  t.equal(Number(head.headers['content-length']), s.pdf.length)
  t.equal(head.rawPayload.length, 0, 'HEAD has no body')

  const part = await fetchLink(s, { range: 'bytes=100-199' })
  t.equal(part.statusCode, 206)
  t.equal(part.headers['content-range'], `bytes 100-199/${s.pdf.length}`)
  t.same(part.rawPayload, s.pdf.subarray(100, 200))
  const beyond = await fetchLink(s, { range: `bytes=${s.pdf.length + 10}-` })
  t.equal(beyond.statusCode, 416)
  const cached = await fetchLink(s, { headers: { 'if-none-match': String(full.headers.etag) } })
  t.equal(cached.statusCode, 304, 'a matching ETag is answered 304')

  const rows = await downloadRows(s)
  t.equal(rows.length, 1, 'HEAD, the continuing Range, the 416 and the 304 add no download')
  t.match(rows[0], { order_id: s.orderId, via: 'link', bytes: s.pdf.length + 100, requests: 2, client_address: '203.0.113.7', user_agent: 'TestReader/1.0', email: 'reader@example.com' })
})

t.test('forged, truncated and re-signed tokens are 404 pages that offer a fresh link', async (t) => {
  const s = await linkShop(t)
  const [payload, signature] = s.token.split('.') as [string, string]
  const later = Buffer.from(`${s.orderId}.${Math.floor(Date.now() / 1000) + 400 * 86400}`).toString('base64url')
  const { createLinks } = await import('../../src/modules/delivery/links.js')
  const other = createLinks({ secret: 'another-secret-of-at-least-thirty-two-chars', publicUrl: 'http://x', days: 7 })
  const cases: Array<[string, string]> = [
    ['truncated', s.token.slice(0, -3)],
    ['payload only', payload],
    ['a flipped signature character', `${payload}.${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`],
    ['a later expiry with the old signature', `${later}.${signature}`],
    ['re-signed with another key', other.create(s.orderId).token],
    ['garbage', 'not-a-token']
  ]
  for (const [name, token] of cases) {
    const response = await fetchLink(s, { token })
    t.equal(response.statusCode, 404, name)
    t.notMatch(response.headers['content-type'], /pdf/, `${name}: no PDF`)
    t.match(response.body, 'This download link does not work', `${name}: says so`)
  }
  t.equal((await downloadRows(s)).length, 0, 'nothing was recorded')
})

t.test('a token whose order id is swapped for another paid order\'s, with the same expiry and the original signature, is a 404 and serves nothing', async (t) => {
  const s = await linkShop(t)
  // A second buyer's paid order: a link to it would be served, so only the signature can refuse.
  const other = await s.h.signIn({ email: 'other@example.com', sub: 'other' })
  const { order: theirs } = await startCheckout(s.h, other, s.slug)
  await s.h.stripe.pay(theirs.provider_checkout_id!)
  t.equal((await successPage(s.h, other, theirs.provider_checkout_id!)).statusCode, 200)
  t.equal((await order(s.h, theirs.id)).status, 'paid')
  t.equal((await fetchLink(s, { token: s.h.app.links.create(theirs.id).token })).statusCode, 200, 'their own link works')

  const [payload, signature] = s.token.split('.') as [string, string]
  const [orderId, expiry] = Buffer.from(payload, 'base64url').toString().split('.') as [string, string]
  t.equal(orderId, s.orderId)
  const swapped = `${Buffer.from(`${theirs.id}.${expiry}`).toString('base64url')}.${signature}`
  const response = await fetchLink(s, { token: swapped, address: '198.51.100.20' })
  t.equal(response.statusCode, 404)
  t.notMatch(response.headers['content-type'], /pdf/, 'no PDF')
  t.match(response.body, 'This download link does not work')
  t.same((await downloadRows(s)).filter((row) => row.client_address === '198.51.100.20'), [], 'nothing was recorded for the forged link')
})

t.test('an expired link is a 410 page that says it expired and offers a fresh link by email, also to a visitor with no session', async (t) => {
  const s = await linkShop(t)
  const expired = s.h.app.links.create(s.orderId, new Date(Date.now() - 8 * 86400_000)).token
  const response = await fetchLink(s, { token: expired })
  t.equal(response.statusCode, 410)
  t.match(response.body, 'This download link has expired')
  t.match(response.body, 'Linked Book')
  t.match(response.body, /<form[^>]*method="post" action="\/links"/)
  t.match(response.body, /<input[^>]*name="email"/)
  const token = csrfFrom(response.body, 'the expired link page')
  t.ok(token.length > 10, 'the form carries a CSRF token')
  t.ok(setCookies(response).some((line) => line.startsWith('session=')), 'a session cookie comes with it, so the token can be checked')
  t.equal((await downloadRows(s)).length, 0)
})

t.test('a refunded order\'s link is a 410 page saying it was refunded', async (t) => {
  const s = await linkShop(t)
  t.equal((await fetchLink(s)).statusCode, 200, 'works while paid')
  const refund = await post(s, s.admin, `/admin/orders/${s.orderId}/refund`)
  t.equal(refund.statusCode, 303)
  const response = await fetchLink(s)
  t.equal(response.statusCode, 410)
  t.match(response.body, 'This purchase was refunded')
  t.notMatch(response.headers['content-type'], /pdf/)
})

t.test('an item unpublished since still reaches the link holder, in its latest version', async (t) => {
  const s = await linkShop(t)
  t.equal((await post(s, s.admin, `/admin/content/${s.slug}/unpublish`)).statusCode, 303)
  t.equal((await s.h.request(null, { url: `/content/${s.slug}` })).statusCode, 404, 'strangers no longer see it')
  const response = await fetchLink(s)
  t.equal(response.statusCode, 200)
  t.equal(sha(response.rawPayload), sha(s.pdf))
})

t.test('DOWNLOAD_LIMIT=2: two downloads are fine, the third is a 403 naming the contact; Range requests of one download count once', async (t) => {
  const s = await linkShop(t, { DOWNLOAD_LIMIT: '2' })
  await s.h.app.settings.save({ store_name: 'Link Books', tagline: '', contact_email: 'help@linkbooks.example', refund_policy: '' })

  // One download resumed in 20 Range requests (the first from byte 0).
  const size = s.pdf.length
  const step = Math.ceil(size / 20)
  const pieces: Buffer[] = []
  for (let start = 0; start < size; start += step) {
    const end = Math.min(size, start + step) - 1
    const piece = await fetchLink(s, { range: `bytes=${start}-${end}` })
    t.equal(piece.statusCode, 206)
    pieces.push(piece.rawPayload)
  }
  t.equal(pieces.length, 20)
  t.equal(sha(Buffer.concat(pieces)), sha(s.pdf), 'the pieces make the file')
  let rows = await downloadRows(s)
  t.equal(rows.length, 1, '20 Range requests of one download count once')
  t.match(rows[0], { bytes: size, requests: 20 })

  t.equal((await fetchLink(s)).statusCode, 200, 'the second download')
  t.equal((await downloadRows(s)).length, 2)
  const refused = await fetchLink(s)
  t.equal(refused.statusCode, 403, 'the third is refused')
  t.match(refused.body, 'help@linkbooks.example', 'naming the store\'s contact')
  t.match(refused.body, 'Download limit reached')
  t.equal((await fetchLink(s, { method: 'HEAD' })).statusCode, 403, 'HEAD too')
  const resumed = await fetchLink(s, { range: 'bytes=1000-' })
  t.equal(resumed.statusCode, 206, 'the last download can still be resumed')
  rows = await downloadRows(s)
  t.equal(rows.length, 2, 'the refusal and the resumption counted nothing')

  await s.h.app.settings.save({ store_name: 'Link Books', tagline: '', contact_email: '', refund_policy: '' })
  const noContact = await fetchLink(s, { agent: 'Another/2.0' })
  t.equal(noContact.statusCode, 403)
  t.match(noContact.body, 'write to the store')
})

t.test('a Range from another client, a later file version or after the window starts a new download', async (t) => {
  const s = await linkShop(t)
  t.equal((await fetchLink(s, { range: 'bytes=0-999' })).statusCode, 206)
  t.equal((await fetchLink(s, { range: 'bytes=1000-1999', address: '198.51.100.9' })).statusCode, 206, 'another address')
  t.equal((await fetchLink(s, { range: 'bytes=1000-1999', agent: 'Other/1.0' })).statusCode, 206, 'another user agent')
  t.equal((await downloadRows(s)).length, 3)
  const then = new Date(Date.now() - s.h.app.downloads.window - 60_000).toISOString()
  await s.h.app.db.updateTable('downloads').set({ downloaded_at: then, last_request_at: then }).execute()
  t.equal((await fetchLink(s, { range: 'bytes=2000-2999' })).statusCode, 206, 'resumed after the window')
  t.equal((await downloadRows(s)).length, 4, 'a new download')
})
