// backends: sqlite, postgres-s3
import t from 'tap'
import { build, CookieJar, csrfFrom } from '../helpers/build.js'
import { smtpServer } from '../helpers/smtp.js'

type Harness = Awaited<ReturnType<typeof build>>

/** An item bought as a guest by `email` (the guest row purchase/guests.ts makes). */
async function guestPurchase (h: Harness, email: string, slug: string): Promise<void> {
  const db = h.app.db
  await db.insertInto('users').values({ provider: 'guest', subject: email, email, email_verified: 0, name: null, is_admin: 0 }).onConflict((oc) => oc.columns(['provider', 'subject']).doNothing()).execute()
  const guest = await db.selectFrom('users').select('id').where('provider', '=', 'guest').where('subject', '=', email).executeTakeFirstOrThrow()
  const content = await db.insertInto('content').values({ slug, title: `Title ${slug}`, description: '', price_cents: 900, currency: 'usd', file_key: 'k', file_name: 'g.pdf', file_size: 1, sha256: 'x', preview_key: 'p' }).returning('id').executeTakeFirstOrThrow()
  const id = `${slug.length.toString(16).padStart(8, '0')}-2222-4333-8444-${String(content.id).padStart(12, '0')}`
  await db.insertInto('orders').values({ id, user_id: guest.id, content_id: content.id, amount_cents: 900, currency: 'usd', status: 'paid', paid_at: new Date().toISOString() }).execute()
  await db.insertInto('library').values({ user_id: guest.id, content_id: content.id, order_id: id }).execute()
}

async function emailSignIn (h: Harness, smtp: Awaited<ReturnType<typeof smtpServer>>, email: string): Promise<CookieJar> {
  const jar = new CookieJar()
  const before = smtp.messages().length
  const page = await h.request(jar, { url: '/login' })
  await h.request(jar, { method: 'POST', url: '/login/email', form: { email, _csrf: csrfFrom(page.body, '/login') } })
  const [mail] = await smtp.waitFor(before + 1)
  const token = /\/login\/email\/([A-Za-z0-9_.-]+)/.exec(mail!.text)![1]!
  const button = await h.request(jar, { url: `/login/email/${token}` })
  const done = await h.request(jar, { method: 'POST', url: `/login/email/${token}`, form: { _csrf: csrfFrom(button.body, 'the link page') } })
  if (done.statusCode !== 303) throw new Error(`sign-in by link answered ${done.statusCode}`)
  return jar
}

const libraryOf = async (h: Harness, jar: CookieJar): Promise<string> => (await h.request(jar, { url: '/library' })).body

t.test('one verified address, one library: link and provider sign-ins see the same purchases, guest ones included', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  await guestPurchase(h, 'kate@example.com', 'guest-bought')

  const byLink = await emailSignIn(h, smtp, 'Kate@Example.com')
  t.match(await libraryOf(h, byLink), 'Title guest-bought', 'the guest purchase is in the library of the link sign-in')

  const byProvider = await h.signIn({ email: 'kate@example.com', sub: 'kate-oidc' })
  t.match(await libraryOf(h, byProvider), 'Title guest-bought', 'the same purchase through the provider')
  const accounts = await h.app.db.selectFrom('sessions').select('user_id').distinct().execute()
  t.equal(accounts.length, 1, 'both sign-ins are one account')

  // A purchase made later as a guest reaches both at their next sign-in.
  await guestPurchase(h, 'kate@example.com', 'later')
  t.match(await libraryOf(h, await emailSignIn(h, smtp, 'kate@example.com')), 'Title later')
  t.match(await libraryOf(h, await h.signIn({ email: 'kate@example.com', sub: 'kate-oidc' })), 'Title later')
})

t.test('a lookalike (Kelvin sign) or an unverified address links nothing', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  await guestPurchase(h, 'kate@example.com', 'kates')
  await emailSignIn(h, smtp, 'kate@example.com')

  const kelvin = await h.signIn({ email: '\u212Aate@example.com', sub: 'kelvin' })
  t.notMatch(await libraryOf(h, kelvin), 'Title kates', 'U+212A KELVIN SIGN is not k')
  const unverified = await h.signIn({ email: 'kate@example.com', sub: 'liar', verified: false })
  t.notMatch(await libraryOf(h, unverified), 'Title kates', 'an unverified address claims nothing')
  const fullwidth = await h.signIn({ email: 'ｋate@example.com', sub: 'fullwidth' })
  t.notMatch(await libraryOf(h, fullwidth), 'Title kates', 'fullwidth k is not k')

  const jar = new CookieJar()
  const page = await h.request(jar, { url: '/login' })
  const kelvinLink = await h.request(jar, { method: 'POST', url: '/login/email', form: { email: '\u212Aate@example.com', _csrf: csrfFrom(page.body, '/login') } })
  t.equal(kelvinLink.statusCode, 400, 'the email form takes ASCII addresses only')
})
