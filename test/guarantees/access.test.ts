import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import t from 'tap'
import { ADMIN_EMAIL, build, type CookieJar, type Harness } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'

interface World { h: Harness, admin: CookieJar, reader: CookieJar, pdf: Buffer }

async function world (t: Parameters<typeof build>[0], env: Record<string, string> = {}): Promise<World> {
  const h = await build(t, env)
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const pdf = pdfBytes('A paid book', 300_000)
  for (const [title, price] of [['Paid Book', '5.00'], ['Free Book', '0']]) {
    const response = await h.upload(admin, { title, price, file: pdf })
    if (response.statusCode !== 303) throw new Error(`upload failed: ${response.statusCode}`)
  }
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  return { h, admin, reader, pdf }
}

t.test('the authorization matrix: anonymous, reader and admin on every route', async (t) => {
  const { h, admin, reader } = await world(t)
  const anonymous = null
  type Who = 'anonymous' | 'reader' | 'admin'
  const jars: Record<Who, CookieJar | null> = { anonymous, reader, admin }
  // [method, url, { who: expected status or 'login' (a redirect to /login?next=...) }]
  const matrix: Array<[string, string, Record<Who, number | 'login'>]> = [
    ['GET', '/healthz', { anonymous: 200, reader: 200, admin: 200 }],
    ['GET', '/', { anonymous: 200, reader: 200, admin: 200 }],
    ['GET', '/content/paid-book', { anonymous: 200, reader: 200, admin: 200 }],
    ['GET', '/content/no-such-book', { anonymous: 404, reader: 404, admin: 404 }],
    ['GET', '/content/paid-book/preview', { anonymous: 200, reader: 200, admin: 200 }],
    ['GET', '/content/no-such-book/preview', { anonymous: 404, reader: 404, admin: 404 }],
    // Admins download every item (the creator's desk), bought or not.
    ['GET', '/content/paid-book/download', { anonymous: 'login', reader: 403, admin: 200 }],
    ['GET', '/content/free-book/download', { anonymous: 'login', reader: 200, admin: 200 }],
    ['GET', '/content/no-such-book/download', { anonymous: 404, reader: 404, admin: 404 }],
    ['GET', '/login', { anonymous: 302, reader: 302, admin: 302 }],
    ['GET', '/library', { anonymous: 'login', reader: 200, admin: 200 }],
    ['GET', '/admin/content/new', { anonymous: 'login', reader: 403, admin: 200 }],
    ['GET', '/admin/content', { anonymous: 'login', reader: 403, admin: 200 }],
    ['GET', '/admin/content/paid-book/edit', { anonymous: 'login', reader: 403, admin: 200 }],
    ['GET', '/checkout/cancel', { anonymous: 200, reader: 200, admin: 200 }],
    ['GET', '/checkout/success?session_id=cs_test_unknown', { anonymous: 'login', reader: 404, admin: 404 }],
    ['GET', '/no/such/page', { anonymous: 404, reader: 404, admin: 404 }]
  ]
  for (const [method, url, expected] of matrix) {
    for (const who of ['anonymous', 'reader', 'admin'] as Who[]) {
      const response = await h.request(jars[who], { method: method as 'GET', url })
      const want = expected[who]
      if (want === 'login') {
        t.equal(response.statusCode, 302, `${who} ${method} ${url}: redirected`)
        t.equal(response.headers.location, `/login?next=${encodeURIComponent(url)}`, `${who} ${method} ${url}: to sign in and back`)
      } else {
        t.equal(response.statusCode, want, `${who} ${method} ${url}: ${want}`)
      }
    }
  }
  const tokens = { reader: await h.csrf(reader), admin: await h.csrf(admin) }
  // Form POSTs, each with a valid token for the signed-in: the role decides.
  const posts: Array<[string, Record<Who, number | 'login'>]> = [
    ['/checkout/free-book', { anonymous: 'login', reader: 303, admin: 303 }],
    ['/admin/flush', { anonymous: 'login', reader: 403, admin: 303 }]
  ]
  for (const [url, expected] of posts) {
    for (const who of ['anonymous', 'reader', 'admin'] as Who[]) {
      const form: Record<string, string> = who === 'anonymous' ? {} : { _csrf: tokens[who] }
      const response = await h.request(jars[who], { method: 'POST', url, form })
      const want = expected[who]
      if (want === 'login') {
        t.ok([302, 303, 403].includes(response.statusCode), `${who} POST ${url}: refused (${response.statusCode})`)
        if (response.statusCode !== 403) t.match(String(response.headers.location), /^\/login\?next=/)
      } else {
        t.equal(response.statusCode, want, `${who} POST ${url}: ${want}`)
      }
    }
  }
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 0, 'the admin flush ran last and emptied the catalogue')
})

t.test('downloads: identical bytes, attachment, nosniff, private, ETag, HEAD, 206 and 416', async (t) => {
  const { h, reader, pdf } = await world(t)
  const url = '/content/free-book/download'
  const full = await h.request(reader, { url })
  t.equal(full.statusCode, 200)
  t.equal(full.headers['content-type'], 'application/pdf')
  t.match(String(full.headers['content-disposition']), /^attachment; filename="?free-book\.pdf"?$/)
  t.equal(full.headers['x-content-type-options'], 'nosniff')
  t.match(String(full.headers['cache-control']), /private/)
  t.ok(full.headers.etag, 'ETag is sent')
  t.equal(createHash('sha256').update(full.rawPayload).digest('hex'), createHash('sha256').update(pdf).digest('hex'), 'byte-identical to the upload')

  const head = await h.request(reader, { method: 'HEAD', url })
  t.equal(head.statusCode, 200)
  t.equal(Number(head.headers['content-length']), pdf.length)
  t.equal(head.rawPayload.length, 0, 'HEAD has no body')

  const part = await h.request(reader, { url, headers: { range: 'bytes=100-199' } })
  t.equal(part.statusCode, 206)
  t.equal(part.headers['content-range'], `bytes 100-199/${pdf.length}`)
  t.same(part.rawPayload, pdf.subarray(100, 200))
  const tail = await h.request(reader, { url, headers: { range: 'bytes=-10' } })
  t.same(tail.rawPayload, pdf.subarray(pdf.length - 10))

  const beyond = await h.request(reader, { url, headers: { range: `bytes=${pdf.length + 10}-` } })
  t.equal(beyond.statusCode, 416)

  const cached = await h.request(reader, { url, headers: { 'if-none-match': String(full.headers.etag) } })
  t.equal(cached.statusCode, 304, 'a matching ETag is answered 304')

  const preview = await h.request(null, { url: '/content/free-book/preview' })
  t.equal(preview.headers['content-type'], 'image/png')
})

t.test('flush in development deletes content, orders, library, events and files, and keeps users', async (t) => {
  const { h, admin } = await world(t)
  const reader = await h.signIn({ email: 'buyer@example.com' })
  const checkout = await h.request(reader, { method: 'POST', url: '/checkout/paid-book', form: { _csrf: await h.csrf(reader) } })
  t.equal(checkout.statusCode, 303, 'an order exists to be flushed')
  await h.app.db.insertInto('payment_events').values({ id: 'evt_flush', type: 'checkout.session.completed' }).execute()
  const users = (await h.app.db.selectFrom('users').select('id').execute()).length

  const response = await h.request(admin, { method: 'POST', url: '/admin/flush', form: { _csrf: await h.csrf(admin) } })
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, '/')
  for (const table of ['content', 'orders', 'library', 'payment_events'] as const) {
    t.equal((await h.app.db.selectFrom(table).selectAll().execute()).length, 0, `${table} is empty`)
  }
  t.equal((await h.app.db.selectFrom('users').select('id').execute()).length, users, 'users are kept')
  t.same(await readdir(h.config.contentDir), ['.store-id'], 'stored files are gone; the folder keeps its store id')
  const catalogue = await h.request(admin, { url: '/' })
  t.match(catalogue.body, /Nothing here yet/)
})

t.test('flush is refused in production: the route does not exist, and npm run flush refuses', async (t) => {
  const { h, admin } = await world(t, { NODE_ENV: 'production' })
  const response = await h.request(admin, { method: 'POST', url: '/admin/flush', form: { _csrf: await h.csrf(admin) } })
  t.equal(response.statusCode, 404)
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 2, 'nothing deleted')

  const { spawnSync } = await import('node:child_process')
  const script = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/flush.ts'], {
    env: { PATH: process.env.PATH, NODE_ENV: 'production', DATABASE_URL: h.config.databasePath, CONTENT_DIR: h.config.contentDir, PUBLIC_URL: 'https://x.example', SESSION_SECRET: 'p'.repeat(32), STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_WEBHOOK_SECRET: 'whsec_x', OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: 'a', OAUTH_CLIENT_SECRET: 'b' },
    encoding: 'utf8',
    timeout: 30_000
  })
  t.not(script.status, 0, 'npm run flush exits non-zero in production')
  t.match(script.stderr, /Refusing to flush/)
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 2, 'still nothing deleted')
})

t.test('a form POST without a valid _csrf is answered 403 and changes nothing', async (t) => {
  const { h, admin, reader } = await world(t)
  const other = await h.signIn({ email: 'other@example.com' })
  const othersToken = await h.csrf(other)
  for (const [jar, url] of [[reader, '/logout'], [reader, '/checkout/paid-book'], [admin, '/admin/flush']] as Array<[CookieJar, string]>) {
    for (const [name, form] of [['no token', {}], ['another session\'s token', { _csrf: othersToken }], ['garbage', { _csrf: 'x' }]] as Array<[string, Record<string, string>]>) {
      const response = await h.request(jar, { method: 'POST', url, form })
      t.equal(response.statusCode, 403, `${url} with ${name}: 403`)
      t.match(response.body, /form has expired/, `${url} with ${name}: says what to do`)
    }
  }
  t.equal((await h.app.db.selectFrom('orders').select('id').execute()).length, 0, 'no order was created')
  t.equal((await h.app.db.selectFrom('content').select('id').execute()).length, 2, 'nothing was flushed')
  t.equal((await h.request(reader, { url: '/library' })).statusCode, 200, 'the reader is still signed in')
})

t.test('the catalogue pages 24 at a time with next and previous links', async (t) => {
  const h = await build(t)
  const rows = Array.from({ length: 30 }, (_, i) => ({
    slug: `book-${i}`,
    title: `Book ${i}`,
    description: '',
    price_cents: i * 100,
    currency: 'usd',
    file_key: `k${i}.pdf`,
    file_name: 'b.pdf',
    file_size: 1,
    sha256: 'x',
    preview_key: `p${i}.png`,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString()
  }))
  await h.app.db.insertInto('content').values(rows).execute()
  const first = await h.request(null, { url: '/' })
  t.equal((first.body.match(/class="card"/g) ?? []).length, 24)
  t.match(first.body, /href="\/content\/book-29"/, 'newest first')
  t.match(first.body, /href="\/\?page=2"/, 'a link to the next page')
  t.notMatch(first.body, /rel="prev"/)
  const second = await h.request(null, { url: '/?page=2' })
  t.equal((second.body.match(/class="card"/g) ?? []).length, 6)
  t.match(second.body, /href="\/content\/book-0"/)
  t.match(second.body, /rel="prev"/)
  t.notMatch(second.body, /rel="next"/)
  t.equal((await h.request(null, { url: '/?page=0' })).statusCode, 400, 'page 0 is refused')
  t.equal((await h.request(null, { url: '/?page=99' })).statusCode, 200, 'a page past the end shows the last')
})
