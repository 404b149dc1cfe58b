import t from 'tap'
import { Writable } from 'node:stream'
import { loggerOptions } from '../../src/logging.js'
import { build, CookieJar, csrfFrom } from '../helpers/build.js'
import { smtpServer } from '../helpers/smtp.js'

/** The /login/email/<token> part of a mail's text. */
function signInToken (text: string): string {
  const match = /\/login\/email\/([A-Za-z0-9_.-]+)/.exec(text)
  if (match === null) throw new Error(`no sign-in link in:\n${text}`)
  return match[1]!
}

async function askLink (h: Awaited<ReturnType<typeof build>>, jar: CookieJar, email: string, next = '/library') {
  const page = await h.request(jar, { url: `/login?next=${encodeURIComponent(next)}` })
  return await h.request(jar, { method: 'POST', url: '/login/email', form: { email, next, _csrf: csrfFrom(page.body, 'the page') } })
}

/** Follows a link as a phone's browser does: a GET (a fresh browser), then the button's POST. */
async function follow (h: Awaited<ReturnType<typeof build>>, token: string, jar = new CookieJar()) {
  const page = await h.request(jar, { url: `/login/email/${token}` })
  if (page.statusCode !== 200) return { page, done: page }
  const done = await h.request(jar, { method: 'POST', url: `/login/email/${token}`, form: { _csrf: csrfFrom(page.body, 'the page') } })
  return { page, done, jar }
}

t.test('GET /login with email sign-in on is a page with the form and the provider link; the provider is at /login/oidc', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  const page = await h.request(new CookieJar(), { url: '/login?next=/library' })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'action="/login/email"')
  t.match(page.body, 'name="_csrf"')
  t.match(page.body, 'href="/login/oidc?next=%2Flibrary"')
  const provider = await h.request(new CookieJar(), { url: '/login/oidc?next=/library' })
  t.equal(provider.statusCode, 302)
  t.match(provider.headers.location, /\/authorize\?.*state=.*code_challenge=/)
  t.match(page.headers['cache-control'], /private/)
})

t.test('with a provider alone (no SMTP, or EMAIL_SIGN_IN=0), GET /login still redirects to it', async (t) => {
  const plain = await build(t)
  t.equal((await plain.request(null, { url: '/login' })).statusCode, 302)
  const smtp = await smtpServer(t)
  const off = await build(t, { SMTP_URL: smtp.url, EMAIL_SIGN_IN: '0' })
  t.equal((await off.request(null, { url: '/login' })).statusCode, 302)
  t.equal((await off.request(null, { method: 'POST', url: '/login/email', form: { email: 'a@example.com' } })).statusCode, 404)
})

t.test('an emailed link signs in once, with the address verified, and goes to next; a GET alone uses nothing', async (t) => {
  const smtp = await smtpServer(t)
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _encoding, done) { lines.push(String(chunk)); done() } })
  const h = await build(t, { SMTP_URL: smtp.url, LOG_LEVEL: 'trace' }, { logger: { ...loggerOptions('trace'), stream } })
  const asked = await askLink(h, new CookieJar(), 'Reader@Example.com')
  t.equal(asked.statusCode, 200)
  t.match(asked.body, 'Check your email')
  const [mail] = await smtp.waitFor(1)
  t.equal(mail!.to, 'reader@example.com')
  t.ok(mail!.html, 'an HTML part')
  t.match(mail!.text, /http:\/\/127\.0\.0\.1:3999\/login\/email\//, 'the text part has the link')
  const token = signInToken(mail!.text)

  // A scanner's GETs change nothing.
  for (let i = 0; i < 3; i++) t.equal((await h.request(new CookieJar(), { url: `/login/email/${token}` })).statusCode, 200)
  const { page, done, jar } = await follow(h, token)
  t.match(page.body, 'method="post"')
  t.equal(done.statusCode, 303)
  t.equal(done.headers.location, '/library')
  const library = await h.request(jar!, { url: '/library' })
  t.equal(library.statusCode, 200, 'signed in')
  const user = await h.app.db.selectFrom('users').selectAll().where('provider', '=', 'email').executeTakeFirstOrThrow()
  t.equal(user.email, 'reader@example.com')
  t.equal(user.email_verified, 1)

  // Used: refused, on GET and POST alike.
  const again = await follow(h, token)
  t.equal(again.page.statusCode, 410)
  const replay = await h.request(jar!, { method: 'POST', url: `/login/email/${token}`, form: { _csrf: csrfFrom(library.body, 'the library') } })
  t.equal(replay.statusCode, 410)

  // Stored hashed, never logged, never kept in the outbox.
  const row = await h.app.db.selectFrom('sign_in_tokens').selectAll().executeTakeFirstOrThrow()
  t.not(row.token_hash, token)
  t.notMatch(JSON.stringify(row), token)
  const outbox = await h.app.db.selectFrom('outbox').selectAll().where('kind', '=', 'sign-in').executeTakeFirstOrThrow()
  t.notMatch(JSON.stringify(outbox), token.split('.')[1]!, 'the outbox keeps no token')
  t.ok(lines.length > 20, 'the trace log was written')
  t.notOk(lines.some((line) => line.includes(token) || line.includes(token.split('.')[1]!)), 'no log line holds the token')
  t.ok(lines.some((line) => line.includes('/login/email/[redacted]')), 'the URL is logged redacted')
})

t.test('bad, expired and forged tokens sign nobody in; a foreign next stays local', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  t.equal((await h.request(new CookieJar(), { url: '/login/email/nonsense' })).statusCode, 404)
  t.equal((await h.request(new CookieJar(), { url: `/login/email/${'a'.repeat(22)}.${'b'.repeat(43)}` })).statusCode, 404)
  await askLink(h, new CookieJar(), 'late@example.com', '//evil.example/')
  const [mail] = await smtp.waitFor(1)
  const token = signInToken(mail!.text)
  const forged = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA')
  t.equal((await follow(h, forged)).page.statusCode, 404, 'a changed token is unknown')
  // 16 minutes later.
  await h.app.db.updateTable('sign_in_tokens').set({ expires_at: new Date(Date.now() - 60_000).toISOString() }).execute()
  const expired = await follow(h, token)
  t.equal(expired.page.statusCode, 410)
  t.match(expired.page.body, 'expired')
  const jar = new CookieJar()
  const page = await h.request(jar, { url: '/login' })
  const post = await h.request(jar, { method: 'POST', url: `/login/email/${token}`, form: { _csrf: csrfFrom(page.body, 'the page') } })
  t.equal(post.statusCode, 410, 'an expired link cannot be posted either')
  t.equal(await h.app.db.selectFrom('users').select('id').where('provider', '=', 'email').executeTakeFirst(), undefined)

  await h.app.db.deleteFrom('sign_in_tokens').execute()
  await askLink(h, new CookieJar(), 'late@example.com', '//evil.example/')
  const fresh = signInToken((await smtp.waitFor(2))[0]!.text)
  const { done } = await follow(h, fresh)
  t.equal(done.headers.location, '/', 'next pointing elsewhere becomes /')
})

t.test('the answer is the same for known and unknown addresses; limits per address and per client', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  await h.signIn({ email: 'known@example.com' })
  const known = await askLink(h, new CookieJar(), 'known@example.com')
  const unknown = await askLink(h, new CookieJar(), 'nobody@example.com')
  t.equal(known.statusCode, unknown.statusCode)
  t.equal(known.body.replaceAll('known@example.com', 'X').replace(/value="[^"]+"/g, ''), unknown.body.replaceAll('nobody@example.com', 'X').replace(/value="[^"]+"/g, ''))
  await smtp.waitFor(2)

  // Per address: 3 links per 15 minutes, then the same page and no mail.
  for (let i = 0; i < 3; i++) t.equal((await askLink(h, new CookieJar(), 'flood@example.com')).statusCode, 200)
  await smtp.waitFor(4)
  const limited = await askLink(h, new CookieJar(), 'flood@example.com')
  t.equal(limited.statusCode, 200)
  t.match(limited.body, 'Check your email')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.equal(smtp.messages().filter((m) => m.to === 'flood@example.com').length, 3, 'no fourth mail to the address')

  // Per client: 10 links per 15 minutes from one address, then 429.
  let status = 0
  for (let i = 0; i < 6; i++) status = (await askLink(h, new CookieJar(), `person${i}@example.com`)).statusCode
  t.equal(status, 429, 'the client is told to wait')

  t.equal((await h.request(new CookieJar(), { method: 'POST', url: '/login/email', form: { email: 'x@example.com' } })).statusCode, 403, 'no CSRF token: refused')
  const badJar = new CookieJar()
  const page = await h.request(badJar, { url: '/login' })
  t.equal((await h.request(badJar, { method: 'POST', url: '/login/email', form: { email: 'not an address', _csrf: csrfFrom(page.body, 'the page') } })).statusCode, 400)
})
