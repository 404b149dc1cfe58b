// backends: sqlite, postgres-s3
import t from 'tap'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { buildApp } from '../../src/app.js'
import { build, CookieJar, csrfFrom, multipartBody } from '../helpers/build.js'
import { pdfBytes } from '../helpers/fixtures.js'
import { sleep } from '../helpers/net.js'
import { closedSmtp, linkToken, smtpServer } from '../helpers/smtp.js'

type Harness = Awaited<ReturnType<typeof build>>
interface Caught { to: string, subject: string, text: string, html: string, headers: Map<string, unknown>, raw: Map<string, string> }

async function item (h: Harness, slug: string, price = 900): Promise<number> {
  return (await h.app.db.insertInto('content').values({ slug, title: `Title ${slug}`, description: '', price_cents: price, currency: 'usd', file_key: 'k', file_name: 'g.pdf', file_size: 1, sha256: 'x', preview_key: 'p' }).returning('id').executeTakeFirstOrThrow()).id
}

let orderSeq = 0
async function buyer (h: Harness, email: string, contentId: number, status: 'paid' | 'refunded' = 'paid'): Promise<string> {
  const db = h.app.db
  const user = await db.insertInto('users').values({ provider: 'oidc', subject: email, email, email_verified: 1, name: null, is_admin: 0 }).returning('id').executeTakeFirstOrThrow()
  const id = `00000000-2222-4333-8444-${String(++orderSeq).padStart(12, '0')}`
  await db.insertInto('orders').values({ id, user_id: user.id, content_id: contentId, amount_cents: 900, currency: 'usd', status, paid_at: new Date().toISOString(), refunded_cents: status === 'refunded' ? 900 : 0 }).execute()
  return id
}

/** A real SMTP server keeping each message's headers too. */
async function headerServer (t: { teardown(fn: () => unknown): void }): Promise<{ url: string, mails: Caught[] }> {
  const mails: Caught[] = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData (stream, session, callback) {
      simpleParser(stream).then((parsed) => {
        mails.push({ to: session.envelope.rcptTo[0]!.address, subject: parsed.subject ?? '', text: parsed.text ?? '', html: typeof parsed.html === 'string' ? parsed.html : '', headers: parsed.headers, raw: new Map(parsed.headerLines.map((line) => [line.key, line.line.slice(line.line.indexOf(':') + 1).trim()])) })
        callback()
      }, callback)
    }
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  server.on('error', () => {})
  t.teardown(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  const address = server.server.address() as { port: number }
  return { url: `smtp://127.0.0.1:${address.port}`, mails }
}

async function until (check: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await sleep(25)
  }
}

t.test('a message from the desk is previewed, then mailed to each buyer once with one-click unsubscribe; refunded buyers get nothing', async (t) => {
  const smtp = await headerServer(t)
  const h = await build(t, { SMTP_URL: smtp.url, MAIL_PER_MINUTE: '6000' })
  const id = await item(h, 'guide')
  await buyer(h, 'ann@example.com', id)
  await buyer(h, 'bob@example.com', id)
  await buyer(h, 'gone@example.com', id, 'refunded')
  const other = await item(h, 'other')
  await buyer(h, 'stranger@example.com', other)
  const admin = await h.signIn({ email: 'admin@example.com' })

  const form = await h.request(admin, { url: '/admin/content/guide/message' })
  t.equal(form.statusCode, 200)
  t.match(form.body, '2 addresses get it')
  const preview = await h.request(admin, { method: 'POST', url: '/admin/content/guide/message/preview', form: { subject: 'Errata', body: 'Page 3 **fixed**.', _csrf: csrfFrom(form.body, 'form') } })
  t.equal(preview.statusCode, 200)
  t.match(preview.body, '<strong>fixed</strong>', 'the Markdown rendered in the preview')
  t.equal(smtp.mails.length, 0, 'a preview sends nothing')
  t.equal((await h.request(admin, { method: 'POST', url: '/admin/content/guide/message', form: { subject: '', body: 'x', _csrf: csrfFrom(form.body, 'form') } })).statusCode, 400)
  const sent = await h.request(admin, { method: 'POST', url: '/admin/content/guide/message', form: { subject: 'Errata', body: 'Page 3 **fixed**.', _csrf: csrfFrom(preview.body, 'preview') } })
  t.equal(sent.statusCode, 303)
  await until(() => smtp.mails.length >= 2)
  await sleep(300)
  t.same(smtp.mails.map((m) => m.to).sort(), ['ann@example.com', 'bob@example.com'], 'each buyer once; the refunded one and other items\' buyers not at all')
  const mail = smtp.mails[0]!
  t.equal(mail.subject, 'Errata')
  t.match(mail.html, '<strong>fixed</strong>')
  t.match(mail.text, 'Page 3 **fixed**.', 'a plain-text part')
  const listUnsubscribe = mail.raw.get('list-unsubscribe') ?? ''
  t.match(listUnsubscribe, /^<http:\/\/127\.0\.0\.1:3999\/unsubscribe\/[^>]+>$/)
  t.equal(mail.raw.get('list-unsubscribe-post'), 'List-Unsubscribe=One-Click')
  t.match(String(mail.headers.get('message-id') as string), /^<outbox\.\d+\.[0-9a-z]+@127\.0\.0\.1>$/, 'a Message-ID in the sender\'s domain')
  t.ok(mail.headers.get('date') instanceof Date, 'a Date header')

  const progress = await h.request(admin, { url: '/admin/content/guide/message' })
  t.match(progress.body, '2 of 2', 'progress in the desk')

  // One-click unsubscribe: a POST with no cookie and no CSRF token, as mail clients send it.
  const unsubscribePath = new URL(listUnsubscribe.slice(1, -1)).pathname
  const page = await h.request(null, { url: unsubscribePath })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'type="submit"')
  t.equal(await h.app.audience.isUnsubscribed(mail.to), false, 'the GET changed nothing')
  const oneClick = await h.request(null, { method: 'POST', url: unsubscribePath, payload: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(oneClick.statusCode, 200)
  t.equal(await h.app.audience.isUnsubscribed(mail.to), true)
  t.equal((await h.request(null, { url: unsubscribePath.slice(0, -3) + 'xyz' })).statusCode, 404, 'a forged token')

  // The next message skips the unsubscribed address; a receipt still goes to it.
  const stays = mail.to === 'ann@example.com' ? 'bob@example.com' : 'ann@example.com'
  await h.app.outbox.broadcast({ contentId: id, kind: 'message', subject: 'Second', body: 'Hello', version: null })
  await until(() => smtp.mails.length >= 3)
  await sleep(300)
  t.same(smtp.mails.slice(2).map((m) => m.to), [stays])
  const orderOfUnsubscribed = (await h.app.db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id').select('orders.id').where('users.email', '=', mail.to).executeTakeFirstOrThrow()).id
  await h.app.outbox.queueReceipt(orderOfUnsubscribed)
  await until(() => smtp.mails.some((m) => m.to === mail.to && m.subject.startsWith('Your receipt')))
  t.pass('receipts still go to an unsubscribed address')

  // Unsubscribed after the rows were written (another instance, say): skipped at send time.
  await h.app.db.updateTable('outbox').set({ next_attempt_at: new Date(Date.now() + 3600_000).toISOString() }).where('sent_at', 'is', null).execute()
  await h.app.outbox.broadcast({ contentId: id, kind: 'message', subject: 'Third', body: 'Hello', version: null })
  await h.app.audience.unsubscribe(stays)
  await sleep(800)
  t.notOk(smtp.mails.some((m) => m.subject === 'Third'), 'nobody got the third')

  const csv = await h.request(admin, { url: '/admin/customers.csv' })
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], 'text/csv')
  t.equal(csv.body.split('\r\n')[0], 'email,first_seen,orders,paid,refunded,currency,consent,unsubscribed')
  t.match(csv.body, new RegExp(`${mail.to.replace('.', '\\.')},[^,]+,1,9\\.00,0\\.00,usd,0,1`))
  t.match(csv.body, /gone@example\.com,[^,]+,1,9\.00,9\.00,usd,0,0/)
  const customers = await h.request(admin, { url: '/admin/customers' })
  t.match(customers.body, 'Unsubscribed')
})

t.test('notify_buyers: a new version is mailed to every buyer with its changelog and a download link', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url, MAIL_PER_MINUTE: '6000' })
  const admin = await h.signIn({ email: 'admin@example.com' })
  t.equal((await h.upload(admin, { title: 'Atlas', price: '5' })).statusCode, 303)
  const content = await h.app.db.selectFrom('content').selectAll().where('slug', '=', 'atlas').executeTakeFirstOrThrow()
  await buyer(h, 'reader@example.com', content.id)
  await buyer(h, 'refunded@example.com', content.id, 'refunded')
  const edit = await h.request(admin, { url: '/admin/content/atlas/edit' })
  t.match(edit.body, 'name="notify_buyers"')
  const form = await multipartBody([
    ['_csrf', csrfFrom(edit.body, 'edit')],
    ['title', 'Atlas'],
    ['file', { data: pdfBytes('Atlas, second edition'), filename: 'atlas-2.pdf', type: 'application/pdf' }],
    ['changelog', 'Maps of the north added'],
    ['notify_buyers', '1']
  ])
  const saved = await h.request(admin, { method: 'POST', url: '/admin/content/atlas', payload: form.body, headers: { 'content-type': form.contentType } })
  t.equal(saved.statusCode, 303)
  const [mail] = await smtp.waitFor(1)
  await sleep(300)
  t.equal(smtp.messages().length, 1, 'the refunded buyer gets no update')
  t.equal(mail!.to, 'reader@example.com')
  t.match(mail!.text, 'Maps of the north added')
  t.match(mail!.text, 'Version 2')
  const download = await h.request(null, { url: `/d/${linkToken(mail!.text)}` })
  t.equal(download.statusCode, 200, 'the link downloads')
})

t.test('a free item by email: a link that downloads, the address in the customers list with its consent, limited', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  const admin = await h.signIn({ email: 'admin@example.com' })
  t.equal((await h.upload(admin, { title: 'Freebie', price: '0' })).statusCode, 303)
  await item(h, 'paid-one')
  const visitor = new CookieJar()
  const page = await h.request(visitor, { url: '/content/freebie' })
  t.match(page.body, 'action="/content/freebie/free"')
  const csrf = csrfFrom(page.body, 'item page')
  const asked = await h.request(visitor, { method: 'POST', url: '/content/freebie/free', form: { email: 'Fan@Example.com', consent: '1', _csrf: csrf } })
  t.equal(asked.statusCode, 200)
  t.match(asked.body, 'Check your email')
  const [mail] = await smtp.waitFor(1)
  t.equal(mail!.to, 'fan@example.com')
  const download = await h.request(null, { url: `/d/${linkToken(mail!.text)}` })
  t.equal(download.statusCode, 200)
  t.equal(download.headers['content-type'], 'application/pdf')

  t.equal((await h.request(visitor, { method: 'POST', url: '/content/paid-one/free', form: { email: 'fan@example.com', _csrf: csrf } })).statusCode, 409, 'a paid item is not free')
  t.equal((await h.request(visitor, { method: 'POST', url: '/content/freebie/free', form: { email: 'nope', _csrf: csrf } })).statusCode, 400)
  t.equal((await h.request(new CookieJar(), { method: 'POST', url: '/content/freebie/free', form: { email: 'fan@example.com' } })).statusCode, 403, 'no CSRF token')
  for (let i = 0; i < 4; i++) await h.request(visitor, { method: 'POST', url: '/content/freebie/free', form: { email: 'fan@example.com', _csrf: csrf } })
  await sleep(500)
  t.equal(smtp.messages().length, 3, 'at most 3 an hour to one address')

  const csv = await h.request(admin, { url: '/admin/customers.csv' })
  t.match(csv.body, /\r\nfan@example\.com,[^,]+,1,0\.00,0\.00,usd,1,0\r\n/)
})

t.test('a broadcast interrupted by a crash goes on after a restart without mailing anyone twice', async (t) => {
  const smtp = await smtpServer(t)
  const down = await closedSmtp()
  // The first app cannot reach SMTP: it writes the broadcast and stops before sending anything.
  const first = await build(t, { SMTP_URL: down.url, MAIL_PER_MINUTE: '6000' })
  const id = await item(first, 'crash')
  for (let i = 0; i < 5; i++) await buyer(first, `b${i}@example.com`, id)
  const done = await first.app.outbox.broadcast({ contentId: id, kind: 'message', subject: 'Crash', body: 'Hi', version: null })
  t.equal(done.recipients, 5)
  t.equal((await first.app.db.selectFrom('outbox').select('id').where('broadcast_id', '=', done.id).execute()).length, 5, 'every recipient\'s row, in one transaction')
  await first.app.close()

  // A new app on the same database and store, with SMTP back.
  const second = await buildApp({ ...first.config, smtpUrl: smtp.url })
  await second.ready()
  t.teardown(async () => { await second.close() })
  await smtp.waitFor(5, 20_000)
  await sleep(500)
  t.same(smtp.messages().map((m) => m.to).sort(), ['b0@example.com', 'b1@example.com', 'b2@example.com', 'b3@example.com', 'b4@example.com'], 'each buyer once')
})
