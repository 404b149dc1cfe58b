import t from 'tap'
import { build } from '../helpers/build.js'
import { sleep } from '../helpers/net.js'

// Demo mode: no OAuth configured, so the demo's stand-ins start, and with no SMTP_URL its mail catcher.
const DEMO = { OAUTH_PROVIDER: '', OAUTH_CLIENT_ID: '', OAUTH_CLIENT_SECRET: '', OIDC_ISSUER: '', NODE_ENV: 'development' }

async function paidOrder (h: Awaited<ReturnType<typeof build>>): Promise<string> {
  const db = h.app.db
  const user = await db.insertInto('users').values({ provider: 'oidc', subject: 'buyer', email: 'buyer@example.com', email_verified: 1, name: 'Buyer', is_admin: 0 }).returning('id').executeTakeFirstOrThrow()
  const content = await db.insertInto('content').values({ slug: 'mail-guide', title: 'The Mail Guide', description: '', price_cents: 900, currency: 'usd', file_key: 'k', file_name: 'g.pdf', file_size: 1, sha256: 'x', preview_key: 'p' }).returning('id').executeTakeFirstOrThrow()
  const order = await db.insertInto('orders').values({ id: '11111111-2222-4333-8444-555555555555', user_id: user.id, content_id: content.id, amount_cents: 900, currency: 'usd', status: 'paid', paid_at: new Date().toISOString() }).returning('id').executeTakeFirstOrThrow()
  return order.id
}

t.test('demo mode catches mail on a real SMTP server and /dev/mail shows it, newest first, HTML sandboxed', async (t) => {
  const h = await build(t, DEMO)
  t.ok(h.app.config.demo, 'demo mode')
  t.ok(h.app.mailCatcher, 'the catcher runs')
  t.match(h.app.config.smtpUrl, /^smtp:\/\/127\.0\.0\.1:\d+$/, 'the mailer points at it')

  const empty = await h.request(null, { url: '/dev/mail' })
  t.equal(empty.statusCode, 200)
  t.match(empty.body, 'No mail yet')

  const orderId = await paidOrder(h)
  await h.app.outbox.queueReceipt(orderId)
  const deadline = Date.now() + 10_000
  while (h.app.mailCatcher!.messages().length === 0 && Date.now() < deadline) await sleep(25)

  const page = await h.request(null, { url: '/dev/mail' })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Your receipt from PDF Market: The Mail Guide')
  t.match(page.body, 'buyer@example.com')
  t.match(page.body, /<iframe class="mail-html" sandbox [^>]*srcdoc="&lt;!doctype html&gt;/, 'the HTML only inside a sandboxed iframe, escaped')
  t.notMatch(page.body, /<body style=/, 'never inlined into our page')
  t.match(page.body, '$9.00')
  t.match(page.body, '<a href="/dev/mail">Mail</a>', 'the demo banner links to it')
  t.match(page.headers['content-security-policy'], "style-src 'self' 'unsafe-inline'", 'inline styles of the mail only here')
  t.match(page.headers['content-security-policy'], "script-src 'self'")

  const one = await h.request(null, { url: `/dev/mail?id=${h.app.mailCatcher!.messages()[0]!.id}` })
  t.equal(one.statusCode, 200)
  t.equal((await h.request(null, { url: '/dev/mail?id=999' })).statusCode, 404)
})

t.test('/dev/mail is 404 in production and when the catcher is not running', async (t) => {
  const configured = await build(t)
  t.equal((await configured.request(null, { url: '/dev/mail' })).statusCode, 404, 'no demo')
  const demoWithSmtp = await build(t, { ...DEMO, SMTP_URL: 'smtp://127.0.0.1:9' })
  t.equal(demoWithSmtp.app.mailCatcher, null)
  t.equal((await demoWithSmtp.request(null, { url: '/dev/mail' })).statusCode, 404, 'demo with a real SMTP relay')
  const production = await build(t, { NODE_ENV: 'production', SMTP_URL: 'smtp://127.0.0.1:9' })
  t.equal((await production.request(null, { url: '/dev/mail' })).statusCode, 404, 'production')
})
