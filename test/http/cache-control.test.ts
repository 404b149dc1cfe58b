import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import { CookieJar, csrfFrom, setCookies, signInFlow } from '../helpers/build.js'
import { shop } from '../helpers/purchase.js'

// What is one person's (a signed-in page, an admin page, an answer that sets a cookie) is kept
// by no cache, the browser's own included (its back button on a shared computer, a proxy that
// ignores `private`): `Cache-Control` carries both `private` and `no-store`.

function personal (t: Test, response: LightMyRequestResponse, what: string): void {
  const directives = String(response.headers['cache-control'] ?? '').split(',').map((d) => d.trim().toLowerCase())
  t.ok(directives.includes('private') && directives.includes('no-store'), `${what}: Cache-Control is private and no-store (got ${String(response.headers['cache-control'])})`)
  t.notOk(directives.includes('public'), `${what}: and never public`)
}

t.test('every page for a signed-in user and every /admin page is private and no-store', async (t) => {
  const { h, slug, admin, reader } = await shop(t, { GUEST_CHECKOUT: 'false' })
  for (const url of ['/library', '/', `/content/${slug}`, '/policies', '/no-such-page']) {
    const page = await h.request(reader, { url })
    t.ok(page.statusCode === 200 || page.statusCode === 404, url)
    personal(t, page, `the reader's ${url}`)
    t.equal(page.headers.etag, undefined, `the reader's ${url}: no ETag`)
  }
  for (const url of ['/admin', '/admin/orders', '/admin/content', '/admin/content/new', '/admin/settings', `/admin/content/${slug}/edit`, '/admin/customers']) {
    const page = await h.request(admin, { url })
    t.equal(page.statusCode, 200, url)
    personal(t, page, `the admin's ${url}`)
  }
  // A signed-in reader who is no admin is refused the desk: that page is personal too.
  const refused = await h.request(reader, { url: '/admin' })
  t.equal(refused.statusCode, 403)
  personal(t, refused, 'the reader\'s refused /admin')
  // The admin's own catalogue (a kept page, with the admin's token in it).
  personal(t, await h.request(admin, { url: '/' }), 'the admin\'s catalogue, kept')
  personal(t, await h.request(admin, { url: '/' }), 'the admin\'s catalogue, from the page cache')
  // What is the same for everyone keeps its own caching, signed in or not.
  const preview = await h.request(reader, { url: `/content/${slug}/preview` })
  t.equal(preview.statusCode, 200)
  t.equal(preview.headers['cache-control'], 'public, max-age=86400', 'a cover stays public')
})

t.test('every answer that sets a cookie is private and no-store: /login, the sign-in, a guest\'s form, the sign-out', async (t) => {
  const { h, slug } = await shop(t, { GUEST_CHECKOUT: 'true' })
  const jar = new CookieJar()
  const { start, done } = await signInFlow(h.send(jar), { email: 'new@example.com', sub: 'new' })
  t.equal(start.statusCode, 302)
  t.ok(setCookies(start).length > 0, '/login sets the state cookie')
  personal(t, start, '/login')
  t.equal(done.statusCode, 302)
  t.ok(setCookies(done).length > 0, 'the callback sets the session cookie')
  personal(t, done, 'the sign-in callback')
  const page = await h.request(jar, { url: '/library' })
  const signOut = await h.request(jar, { method: 'POST', url: '/logout', form: { _csrf: csrfFrom(page.body, '/library') } })
  t.equal(signOut.statusCode, 303)
  t.ok(setCookies(signOut).length > 0, 'signing out rewrites the cookie')
  personal(t, signOut, 'the sign-out')

  // An anonymous item page with a guest's Buy form starts a session for its token.
  const guest = await h.request(null, { url: `/content/${slug}` })
  t.ok(setCookies(guest).length > 0, 'the guest\'s item page sets a cookie')
  personal(t, guest, 'the guest\'s item page')
})

t.test('an anonymous catalogue without a cookie keeps private, no-cache and its ETag', async (t) => {
  const { h } = await shop(t, { GUEST_CHECKOUT: 'false' })
  for (let i = 0; i < 2; i++) {
    const page = await h.request(null, { url: '/' })
    t.equal(page.headers['cache-control'], 'private, no-cache')
    t.ok(page.headers.etag)
    t.same(setCookies(page), [])
  }
})
