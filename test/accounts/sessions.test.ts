import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config.js'
import { startIdentityProvider } from '../../src/dev/identity-provider.js'
import { startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import { localPath } from '../../src/http/auth.js'
import { ADMIN_EMAIL, build, CookieJar, injectAs, setCookies, signInFlow, testEnv, WEBHOOK_SECRET } from '../helpers/build.js'

/** A copy of a browser's cookies, as a thief who copied the cookie would hold them. */
const copyOf = (jar: CookieJar): CookieJar => {
  const copy = new CookieJar()
  for (const [name, value] of jar.cookies) copy.cookies.set(name, value)
  return copy
}

t.test('sign-out ends the session on the server: a copy of the cookie taken before is signed out', async (t) => {
  const h = await build(t)
  const browser = await h.signIn({ email: 'reader@example.com' })
  const stolen = copyOf(browser)
  t.equal((await h.request(stolen, { url: '/library' })).statusCode, 200, 'the copy works while signed in')

  const out = await h.request(browser, { method: 'POST', url: '/logout', form: { _csrf: await h.csrf(browser) } })
  t.equal(out.statusCode, 303)
  t.equal((await h.app.db.selectFrom('sessions').selectAll().execute()).length, 0, 'the sign-in row is gone')

  const library = await h.request(stolen, { url: '/library' })
  t.equal(library.statusCode, 302, 'the copy is sent to sign in')
  t.match(library.headers.location, /^\/login\?next=/)
  const page = await h.request(stolen, { url: '/' })
  t.notMatch(page.body, /Sign out/, 'pages show the copy as signed out')
  // A write with the copy (a page that stores a CSRF secret) must not bring the sign-in back.
  await h.request(stolen, { url: '/' })
  t.equal((await h.request(stolen, { url: '/library' })).statusCode, 302, 'still signed out after writes')
})

t.test('signing out on one device leaves the other signed in', async (t) => {
  const h = await build(t)
  const phone = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  const laptop = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  await h.request(phone, { method: 'POST', url: '/logout', form: { _csrf: await h.csrf(phone) } })
  t.equal((await h.request(phone, { url: '/library' })).statusCode, 302)
  t.equal((await h.request(laptop, { url: '/library' })).statusCode, 200)
})

t.test('a sign-in lasts SESSION_DAYS from the sign-in itself, however often it is used', async (t) => {
  const h = await build(t, { SESSION_DAYS: '2' })
  const jar = await h.signIn({ email: 'reader@example.com' })
  const row = await h.app.db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow()
  const lifetime = Date.parse(row.expires_at) - Date.parse(row.created_at)
  t.equal(lifetime, 2 * 24 * 60 * 60 * 1000, 'expires two days after sign-in')
  const cookie = setCookies(await h.request(null, { url: '/' }))
  t.same(cookie, [], 'an anonymous page sets no cookie')

  // Use the session (pages, a form) and check the end does not move.
  await h.request(jar, { url: '/library' })
  await h.csrf(jar)
  const after = await h.app.db.selectFrom('sessions').select('expires_at').executeTakeFirstOrThrow()
  t.equal(after.expires_at, row.expires_at, 'use does not extend it')

  // Two days later (the row says so), the cookie no longer signs anyone in.
  await h.app.db.updateTable('sessions').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).execute()
  t.equal((await h.request(jar, { url: '/library' })).statusCode, 302, 'expired: signed out')
})

t.test('the session cookie lives SESSION_DAYS in the browser, and is __Host-session in production', async (t) => {
  const dev = await build(t, { SESSION_DAYS: '3' })
  const start = await dev.request(new CookieJar(), { url: '/login' })
  const devCookie = setCookies(start).find((line) => line.startsWith('session='))
  t.match(devCookie, /Max-Age=259200/, 'Max-Age is three days')

  const prod = await build(t, { NODE_ENV: 'production' })
  const jar = await prod.signIn({ email: 'reader@example.com' })
  t.ok(jar.cookies.has('__Host-session'), 'the production cookie is __Host-session')
  t.notOk(jar.cookies.has('session'))
  const page = await prod.request(jar, { url: '/library' })
  t.equal(page.statusCode, 200, 'and it signs in')
  const login = await prod.request(new CookieJar(), { url: '/login' })
  const line = setCookies(login).find((l) => l.startsWith('__Host-session='))
  t.ok(line, 'set on /login')
  t.match(line, /; Secure/i)
  t.match(line, /; Path=\//i)
  t.notMatch(line, /Domain=/i, 'no Domain')
})

t.test('admin rights follow ADMIN_EMAILS as it is now, at the next request after a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'market-admins-'))
  const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET })
  const idp = await startIdentityProvider()
  t.teardown(async () => {
    await stripe.close()
    await idp.close()
    await rm(dir, { recursive: true, force: true })
  })
  const start = async (adminEmails: string) => {
    const app = await buildApp(loadConfig(testEnv(dir, stripe.url, idp.url, { ADMIN_EMAILS: adminEmails })))
    await app.ready()
    return app
  }

  // Sign in through the real flow on the first app.
  let app = await start(ADMIN_EMAIL)
  const jar = new CookieJar()
  await signInFlow(injectAs(app, jar), { email: ADMIN_EMAIL })
  t.equal((await app.inject({ url: '/admin/content/new', headers: { cookie: jar.header } })).statusCode, 200, 'an admin')
  await app.close()

  // The operator removes the address and restarts: the same cookie is no admin any more.
  app = await start('someone-else@example.com')
  const refused = await app.inject({ url: '/admin/content/new', headers: { cookie: jar.header } })
  t.equal(refused.statusCode, 403, 'no longer an admin')
  t.equal((await app.inject({ url: '/library', headers: { cookie: jar.header } })).statusCode, 200, 'still signed in')
  await app.close()

  // And added back, an admin again without signing in anew.
  app = await start(`other@example.com,${ADMIN_EMAIL.toUpperCase()}`)
  t.equal((await app.inject({ url: '/admin/content/new', headers: { cookie: jar.header } })).statusCode, 200)
  await app.close()
})

t.test('next is a local path even after normalising', async (t) => {
  t.equal(localPath('/.//evil.com'), undefined, '/.//evil.com normalises to //evil.com')
  t.equal(localPath('/./\\evil.com'), undefined)
  t.equal(localPath('/a/..//evil.com'), undefined)
  t.equal(localPath('/%2e//evil.com'), undefined)
  t.equal(localPath('/content/x?y=1#z'), '/content/x?y=1#z')
  t.equal(localPath('/a/../library'), '/library')

  const h = await build(t)
  const jar = await h.signIn({ email: 'reader@example.com' }, '/.//evil.com')
  t.ok(jar.cookies.size > 0)
  // The whole flow, checked by where the callback sends the browser.
  const flow = new CookieJar()
  const { start, done } = await signInFlow(h.send(flow), { email: 'reader@example.com' }, '/.//evil.com')
  t.equal(start.statusCode, 302)
  t.equal(done.headers.location, '/', 'lands on / rather than //evil.com')
})
