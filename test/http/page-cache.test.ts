// backends: sqlite, postgres-s3
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { matchesEtag } from '../../src/http/page-cache.js'
import { CookieJar, csrfFrom, type Harness, type TestContext, testEnv } from '../helpers/build.js'
import { edit, post } from '../helpers/items.js'
import { buy, shop } from '../helpers/purchase.js'

// Catalogue and item pages are kept until the database changes (src/http/page-cache.ts):
// every writer must show at once, and no visitor may see another's page.

/** Another instance of the app on the same database and content folder (or PostgreSQL + S3). */
async function secondInstance (t: TestContext, h: Harness): Promise<FastifyInstance> {
  const app = await buildApp(loadConfig(testEnv(h.dir, h.stripe.url, h.idp.url)))
  await app.ready()
  t.teardown(async () => { await app.close() })
  return app
}

const anonymous = async (h: Harness | { app: FastifyInstance }, url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> =>
  await h.app.inject({ url, headers })

t.test('an anonymous catalogue or item page: ETag, Cache-Control, Vary, 304 on If-None-Match, no cookie', async (t) => {
  // Without guest checkout the item page has no form for strangers (with it, see the last test).
  const { h, slug } = await shop(t, { GUEST_CHECKOUT: 'false' })
  for (const url of ['/', `/content/${slug}`, '/?page=1&sort=price']) {
    const first = await anonymous(h, url)
    t.equal(first.statusCode, 200, url)
    const etag = first.headers.etag as string
    t.match(etag, /^"[\w-]{27}"$/, `${url}: a strong ETag`)
    t.equal(first.headers['cache-control'], 'private, no-cache', `${url}: only the browser keeps it, and asks again`)
    t.equal(first.headers.vary, 'cookie', `${url}: signed in, the same URL is another page`)
    t.equal(first.headers['set-cookie'], undefined, `${url}: no cookie for an anonymous visitor`)
    t.notMatch(first.body, /name="_csrf" value="[^"]/, `${url}: no token on an anonymous page`)

    const kept = await anonymous(h, url)
    t.equal(kept.body, first.body, `${url}: the kept page is the same bytes`)
    t.equal(kept.headers.etag, etag)
    t.same(Object.keys(kept.headers).filter((name) => name !== 'date' && name !== 'server-timing'), Object.keys(first.headers).filter((name) => name !== 'date' && name !== 'server-timing'), `${url}: and the same headers`)

    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const revalidated = await anonymous(h, url, { 'if-none-match': header })
      t.equal(revalidated.statusCode, 304, `${url}: If-None-Match ${header} -> 304`)
      t.equal(revalidated.body, '', 'with no body')
      t.equal(revalidated.headers.etag, etag, 'and the ETag')
      t.equal(revalidated.headers['cache-control'], 'private, no-cache')
    }
    t.equal((await anonymous(h, url, { 'if-none-match': '"other"' })).statusCode, 200, `${url}: another ETag -> 200`)
  }
  // A visitor with a cookie (an empty session) gets the same page through the session's path.
  const withCookie = await anonymous(h, '/', { cookie: 'unrelated=1' })
  t.equal(withCookie.body, (await anonymous(h, '/')).body)
  t.equal((await anonymous(h, '/', { cookie: 'unrelated=1', 'if-none-match': withCookie.headers.etag as string })).statusCode, 304)
})

t.test('matchesEtag: weak comparison, lists and *', async (t) => {
  t.ok(matchesEtag('"a"', '"a"'))
  t.ok(matchesEtag('W/"a"', '"a"'))
  t.ok(matchesEtag('"b" , "a"', '"a"'))
  t.ok(matchesEtag('*', '"a"'))
  t.notOk(matchesEtag(undefined, '"a"'))
  t.notOk(matchesEtag('"ab"', '"a"'))
})

t.test('signed-in pages: never an ETag, a fresh working token each time, and no other visitor\'s page', async (t) => {
  const { h, slug, admin, reader } = await shop(t, { GUEST_CHECKOUT: 'false' })
  const other = await h.signIn({ email: 'other@example.com', name: 'Olga Other', sub: 'other' })
  for (const url of ['/', `/content/${slug}`]) {
    // Twice each, in turns: the second of each is a kept page.
    for (let round = 0; round < 2; round++) {
      const asReader = await h.request(reader, { url })
      const asOther = await h.request(other, { url })
      const asAdmin = await h.request(admin, { url })
      const asNobody = await anonymous(h, url)
      for (const [who, page] of [['reader', asReader], ['other', asOther], ['admin', asAdmin]] as const) {
        t.equal(page.statusCode, 200)
        t.equal(page.headers.etag, undefined, `${url} ${who}: no ETag on a page with a token`)
        t.equal(page.headers['cache-control'], 'private, no-store', `${url} ${who}: kept by no cache`)
      }
      t.match(asReader.body, 'reader@example.com')
      t.notMatch(asReader.body, 'other@example.com', `${url}: the reader never sees the other user`)
      t.notMatch(asReader.body, 'admin@example.com')
      t.match(asOther.body, 'other@example.com')
      t.notMatch(asOther.body, 'reader@example.com', `${url}: the other user never sees the reader`)
      t.match(asAdmin.body, 'href="/admin', `${url}: the admin's page has the admin links`)
      t.notMatch(asReader.body, 'href="/admin', `${url}: the reader's does not`)
      t.notMatch(asNobody.body, /reader@example\.com|other@example\.com|admin@example\.com|Sign out|name="_csrf" value="[^"]/, `${url}: the anonymous page shows nobody`)
    }
  }
  // Each answer its own token (made per request), and each one works.
  const tokens = new Set<string>()
  for (let i = 0; i < 3; i++) tokens.add(csrfFrom((await h.request(reader, { url: '/' })).body, '/'))
  t.equal(tokens.size, 3, 'a new token on every page, kept or not')
  const signOut = await h.request(reader, { method: 'POST', url: '/logout', form: { _csrf: [...tokens][0]! } })
  t.equal(signOut.statusCode, 303, 'a token from a kept page signs out')
  const after = await h.request(reader, { url: '/' })
  t.notMatch(after.body, 'reader@example.com', 'signed out: the catalogue no longer shows the reader')
  t.equal(after.headers.etag, (await anonymous(h, '/')).headers.etag, 'but the anonymous page')
})

t.test('every writer shows at once: upload, edit, price change, unpublish, publish, settings, purchase, flush', async (t) => {
  const s = await shop(t, { GUEST_CHECKOUT: 'false' })
  const { h, slug, admin, reader } = s
  const views = async (): Promise<{ catalogue: string, item: string, readerItem: string, etag: string }> => {
    const catalogue = await anonymous(h, '/')
    return { catalogue: catalogue.body, etag: catalogue.headers.etag as string, item: (await anonymous(h, `/content/${slug}`)).body, readerItem: (await h.request(reader, { url: `/content/${slug}` })).body }
  }
  let before = await views()
  t.match(before.catalogue, 'A Field Guide to Testing')

  t.equal((await h.upload(admin, { title: 'Fresh Arrivals', price: '4.00' })).statusCode, 303)
  let now = await views()
  t.match(now.catalogue, 'Fresh Arrivals', 'an upload is in the catalogue at once')
  t.not(now.etag, before.etag, 'under a new ETag')
  t.equal((await anonymous(h, '/', { 'if-none-match': before.etag })).statusCode, 200, 'the old ETag no longer gets a 304')

  before = now
  t.equal((await edit(h, admin, slug, { title: 'A Renamed Guide', price: '7.50' })).statusCode, 303)
  now = await views()
  t.match(now.catalogue, 'A Renamed Guide', 'an edit shows in the catalogue')
  t.match(now.item, '$7.50', 'a price change on the item page')
  t.match(now.readerItem, '$7.50', 'and on a signed-in reader\'s')
  t.notMatch(now.item, '$5.00')

  t.equal((await post(h, admin, `/admin/content/${slug}/unpublish`)).statusCode, 303)
  t.notMatch((await anonymous(h, '/')).body, 'A Renamed Guide', 'unpublished: out of the catalogue')
  t.equal((await anonymous(h, `/content/${slug}`)).statusCode, 404, 'and its page is gone for strangers')
  t.equal((await h.request(reader, { url: `/content/${slug}` })).statusCode, 404, 'and for a reader who does not own it')
  t.equal((await post(h, admin, `/admin/content/${slug}/publish`)).statusCode, 303)
  t.match((await anonymous(h, '/')).body, 'A Renamed Guide', 'published again: back')

  const settings = await h.request(admin, { url: '/admin/settings' })
  const saved = await h.request(admin, { method: 'POST', url: '/admin/settings', form: { _csrf: csrfFrom(settings.body, 'settings'), store_name: 'Renamed Shop', tagline: 'New tagline here', contact_email: 'shop@example.com', refund_policy: 'None.' } })
  t.equal(saved.statusCode, 303)
  t.match((await anonymous(h, '/')).body, 'Renamed Shop', 'a settings save shows on the kept catalogue')
  t.match((await h.request(reader, { url: '/' })).body, 'Renamed Shop', 'and on a signed-in one')

  // A purchase changes the reader's item page (Download), not the anonymous one.
  const readerBefore = (await h.request(reader, { url: `/content/${slug}` })).body
  t.notMatch(readerBefore, `/content/${slug}/download"`)
  await buy(s)
  t.match((await h.request(reader, { url: `/content/${slug}` })).body, `/content/${slug}/download`, 'bought: the reader\'s kept item page offers the download at once')

  t.equal((await post(h, admin, '/admin/flush')).statusCode, 303)
  const flushed = await anonymous(h, '/')
  t.notMatch(flushed.body, 'Fresh Arrivals', 'a flush empties the kept catalogue')
  t.equal((await anonymous(h, `/content/${slug}`)).statusCode, 404)
})

t.test('a write by another instance (or any other connection) shows at once, signing out included', async (t) => {
  const { h, slug, admin, reader } = await shop(t, { GUEST_CHECKOUT: 'false' })
  const b = await secondInstance(t, h)
  t.match((await anonymous(h, '/')).body, 'A Field Guide to Testing')
  t.match((await h.request(reader, { url: '/' })).body, 'reader@example.com')

  // An edit through B: A's kept pages are dropped.
  const form = await b.inject({ url: `/admin/content/${slug}/edit`, headers: { cookie: admin.header } })
  t.equal(form.statusCode, 200, 'the admin\'s cookie is valid on B (one SESSION_SECRET, one database)')
  const hB = { ...h, app: b, request: async (jar: CookieJar | null, options: Parameters<Harness['request']>[1]) => await b.inject({ method: options.method ?? 'GET', url: options.url, headers: { ...options.headers, ...(jar === null ? {} : { cookie: jar.header }) }, payload: options.payload }), csrf: async () => csrfFrom(form.body, 'edit form') } as unknown as Harness
  t.equal((await edit(hB, admin, slug, { title: 'Edited On B', price: '9.00' })).statusCode, 303)
  t.match((await anonymous(h, '/')).body, 'Edited On B', 'A\'s anonymous catalogue shows B\'s edit')
  t.match((await anonymous(h, `/content/${slug}`)).body, '$9.00', 'and its item page the new price')
  t.match((await h.request(reader, { url: `/content/${slug}` })).body, '$9.00', 'and a signed-in reader\'s')

  // A direct write on the database (a script, the other instance's connection).
  await b.db.updateTable('content').set({ title: 'Changed By Hand' }).where('slug', '=', slug).execute()
  t.match((await anonymous(h, '/')).body, 'Changed By Hand', 'a write on another connection shows at once')

  // The reader signs out on B: on A the same cookie is signed out at the next request.
  const page = await b.inject({ url: '/', headers: { cookie: reader.header } })
  t.match(page.body, 'reader@example.com')
  const out = await b.inject({ method: 'POST', url: '/logout', headers: { cookie: reader.header, 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrfFrom(page.body, 'B') }).toString() })
  t.equal(out.statusCode, 303)
  const onA = await h.app.inject({ url: '/', headers: { cookie: reader.header } })
  t.notMatch(onA.body, 'reader@example.com', 'A no longer takes the signed-out cookie for the reader')
  t.notMatch(onA.body, 'Sign out')
})

t.test('a flash message is shown once, to its visitor only, and never kept', async (t) => {
  const { h, slug, admin } = await shop(t)
  t.equal((await post(h, admin, `/admin/content/${slug}/unpublish`)).statusCode, 303)
  t.equal((await post(h, admin, `/admin/content/${slug}/publish`, { next: '/' })).statusCode, 303)
  const withFlash = await h.request(admin, { url: '/' })
  t.match(withFlash.body, 'is published', 'the admin sees the message on the next page')
  t.equal(withFlash.headers.etag, undefined)
  const next = await h.request(admin, { url: '/' })
  t.notMatch(next.body, 'is published', 'once')
  t.notMatch((await anonymous(h, '/')).body, 'is published', 'nobody else sees it')

  // A signed-out visitor's flash (a cookie, no user): shown, not kept for the others.
  const visitor = new CookieJar()
  const page = await h.request(admin, { url: '/' })
  await h.request(admin, { method: 'POST', url: '/logout', form: { _csrf: csrfFrom(page.body, '/') } })
  for (const [name, value] of admin.cookies) visitor.cookies.set(name, value)
  const signedOut = await h.request(visitor, { url: '/' })
  t.equal(signedOut.statusCode, 200)
  t.notMatch((await anonymous(h, '/')).body, /class="flash/, 'the anonymous kept page has no flash')
})

t.test('a guest checkout item page carries a per-request token and its session cookie', async (t) => {
  const { h, slug } = await shop(t, { GUEST_CHECKOUT: 'true' })
  const first = await anonymous(h, `/content/${slug}`)
  const second = await anonymous(h, `/content/${slug}`)
  t.equal(first.headers.etag, undefined, 'a page with a token has no ETag')
  t.ok(first.headers['set-cookie'] !== undefined && second.headers['set-cookie'] !== undefined, 'each starts its session (the token\'s secret)')
  t.not(csrfFrom(first.body, 'first'), csrfFrom(second.body, 'second'), 'each its own token')
})

t.test('a kept sign-in ends at its expiry and when its row goes, with no other write', async (t) => {
  const { h, reader } = await shop(t)
  t.match((await h.request(reader, { url: '/' })).body, 'reader@example.com')
  const [row] = await h.app.db.selectFrom('sessions').innerJoin('users', 'users.id', 'sessions.user_id')
    .select(['sessions.id', 'sessions.expires_at']).where('users.email', '=', 'reader@example.com').execute()
  const { users } = h.app
  const now = new Date()
  t.equal((await users.bySession(row!.id, now))?.email, 'reader@example.com')
  t.equal((await users.bySession(row!.id, now))?.email, 'reader@example.com', 'kept')
  t.equal(await users.bySession(row!.id, new Date(Date.parse(row!.expires_at) + 1000)), undefined, 'past its expiry: signed out, kept or not')
  t.equal((await users.bySession(row!.id, now))?.email, 'reader@example.com')
  await h.app.db.deleteFrom('sessions').where('id', '=', row!.id).execute()
  t.equal(await users.bySession(row!.id, now), undefined, 'its row deleted (by anyone): signed out at once')
  t.notMatch((await h.request(reader, { url: '/' })).body, 'reader@example.com', 'and the kept catalogue page is not shown')
})
