import t from 'tap'
import { ADMIN_EMAIL, build, CookieJar, providerCallback, signInFlow } from '../helpers/build.js'

t.test('sign-in redirects to the provider with state and PKCE S256', async (t) => {
  const h = await build(t)
  const response = await h.app.inject('/login?next=/library')
  t.equal(response.statusCode, 302)
  const location = new URL(response.headers.location as string)
  t.equal(location.origin, h.idp.url)
  t.ok(location.searchParams.get('state'), 'state is sent')
  t.equal(location.searchParams.get('code_challenge_method'), 'S256')
  t.ok(location.searchParams.get('code_challenge'))
  t.equal(location.searchParams.get('redirect_uri'), `${h.config.publicUrl}/login/callback`)
})

t.test('the callback signs in, makes an admin from ADMIN_EMAILS and goes to next', async (t) => {
  const h = await build(t)
  const jar = await h.signIn({ email: ADMIN_EMAIL.toUpperCase(), name: 'Ada' }, '/library')
  const admin = await h.request(jar, { url: '/admin/content/new' })
  t.equal(admin.statusCode, 200)
  const user = await h.app.db.selectFrom('users').selectAll().executeTakeFirstOrThrow()
  t.equal(user.is_admin, 1)
  t.equal(user.name, 'Ada')
})

t.test('an unverified admin email does not make an admin', async (t) => {
  const h = await build(t)
  const jar = await h.signIn({ email: ADMIN_EMAIL, verified: false })
  const admin = await h.request(jar, { url: '/admin/content/new' })
  t.equal(admin.statusCode, 403)
})

t.test('ADMIN_EMAILS matches ASCII case only: a verified Kelvin-sign look-alike (\\u212Aate@) is no admin, KATE@ is', async (t) => {
  const h = await build(t, { ADMIN_EMAILS: 'Kate@Example.com' })
  t.same(h.config.adminEmails, ['kate@example.com'])
  const lookAlike = await h.signIn({ email: '\u212Aate@example.com', sub: 'kelvin', verified: true })
  t.equal((await h.request(lookAlike, { url: '/admin/content/new' })).statusCode, 403, 'the look-alike is refused the desk')
  const row = await h.app.db.selectFrom('users').select('is_admin').where('subject', '=', 'kelvin').executeTakeFirstOrThrow()
  t.equal(row.is_admin, 0)
  const kate = await h.signIn({ email: 'KATE@example.COM', sub: 'kate', verified: true })
  t.equal((await h.request(kate, { url: '/admin/content/new' })).statusCode, 200, 'the listed address in any ASCII case is admin')

  // Listed with the Kelvin sign, the look-alike is the admin, and kate is not.
  const listed = await build(t, { ADMIN_EMAILS: '\u212Aate@example.com' })
  t.same(listed.config.adminEmails, ['\u212Aate@example.com'], 'kept as written, never folded to k')
  t.equal((await listed.request(await listed.signIn({ email: 'kate@example.com', sub: 'kate' }), { url: '/admin/content/new' })).statusCode, 403)
  t.equal((await listed.request(await listed.signIn({ email: '\u212Aate@example.com', sub: 'kelvin' }), { url: '/admin/content/new' })).statusCode, 200)
})

t.test('a state mismatch is rejected with 400 and signs nobody in', async (t) => {
  const h = await build(t)
  const jar = new CookieJar()
  const start = await h.request(jar, { url: '/login' })
  const callback = await providerCallback(start, { email: 'mallory@example.com' })
  callback.searchParams.set('state', 'forged-state')
  const done = await h.request(jar, { url: callback.pathname + callback.search })
  t.equal(done.statusCode, 400)
  t.match(done.body, /Sign-in could not be completed/)
  t.equal((await h.app.db.selectFrom('users').selectAll().execute()).length, 0)
})

t.test('next pointing off-site is refused: the user lands on /', async (t) => {
  const h = await build(t)
  for (const next of ['https://evil.example/', '//evil.example/x', '/\\evil.example', 'javascript:alert(1)']) {
    const jar = new CookieJar()
    const { done } = await signInFlow(h.send(jar), { email: 'reader@example.com' }, next)
    t.equal(done.headers.location, '/', `next=${next}`)
  }
})

t.test('the same subject signs in to the same account; logout needs CSRF and ends the session', async (t) => {
  const h = await build(t)
  const first = await h.signIn({ email: 'reader@example.com', sub: 'reader-1' })
  await h.signIn({ email: 'reader@example.com', sub: 'reader-1', name: 'Renamed' })
  const users = await h.app.db.selectFrom('users').selectAll().execute()
  t.equal(users.length, 1)
  t.equal(users[0]!.name, 'Renamed')

  const noToken = await h.request(first, { method: 'POST', url: '/logout', form: {} })
  t.equal(noToken.statusCode, 403)
  const token = await h.csrf(first)
  const out = await h.request(first, { method: 'POST', url: '/logout', form: { _csrf: token } })
  t.equal(out.statusCode, 303)
  t.equal(out.headers.location, '/')
  const after = await h.request(first, { url: '/library' })
  t.equal(after.statusCode, 302)
})
