// backends: sqlite, postgres-s3
import t from 'tap'
import { openTestDatabase } from '../helpers/backend.js'
import { ADMIN_EMAIL, uploadForm } from '../helpers/build.js'
import { csrfToken, deployment } from '../helpers/server-process.js'
import { sleep } from '../helpers/net.js'
import { buy, libraryRows, order, paidAtStripe, sessionEvent, shop, type Shop } from '../helpers/purchase.js'
import { closedSmtp, linkToken, smtpServer } from '../helpers/smtp.js'

const POLICY = 'Refunds within **14 days**, no questions asked.'

async function storeSettings (s: Shop, name = 'Paper Lantern'): Promise<void> {
  const saved = await s.h.app.settings.save({ store_name: name, tagline: 'Good PDFs', contact_email: 'help@lantern.example', refund_policy: POLICY })
  if (saved.settings === undefined) throw new Error('settings refused')
}

t.test('a paid order sends exactly one receipt: store name, item, amount, order id, a working link, its lifetime, contact and policy', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  await storeSettings(s)
  const { sessionId, order: pending } = await buy(s)
  // Stripe's event for the same payment comes later: already paid, no second receipt.
  const late = await s.h.webhook(sessionEvent(s.h, 'checkout.session.completed', sessionId))
  t.equal(late.statusCode, 200)
  const [mail] = await smtp.waitFor(1)
  await sleep(300)
  t.equal(smtp.messages().length, 1, 'one receipt, not one per path that saw the payment')

  t.same(mail!.envelope.to, ['reader@example.com'], 'sent to the buyer')
  t.equal(mail!.subject, 'Your receipt from Paper Lantern: A Field Guide to Testing')
  t.match(mail!.from, /"?Paper Lantern"? <no-reply@127\.0\.0\.1>/)
  for (const body of [mail!.text, mail!.html!]) {
    t.match(body, 'Paper Lantern')
    t.match(body, 'A Field Guide to Testing')
    t.match(body, '$5.00')
    t.match(body, pending.id)
    t.match(body, '7 days')
    t.match(body, 'help@lantern.example')
  }
  t.match(mail!.html!, '<strong>14 days</strong>', 'the policy as rendered Markdown in HTML')
  t.match(mail!.text, POLICY, 'and as written in the text part')
  t.notMatch(mail!.html!, '<table', 'no tables')
  const check = s.h.app.links.verify(linkToken(mail!.text))
  t.same(check.ok && check.orderId, pending.id, 'the link is signed for this order')
  t.equal(linkToken(mail!.html!), linkToken(mail!.text), 'the same link in both parts')

  const rows = await s.h.app.outbox.rows.forOrder(pending.id)
  t.equal(rows.length, 1)
  t.ok(rows[0]!.sent_at, 'marked sent')
  t.equal(rows[0]!.subject, mail!.subject, 'what was sent is kept')
})

t.test('a guest order\'s receipt goes to the address Stripe collected', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  // A guest's order: its user row has no address of its own; Stripe collected one.
  const started = await paidAtStripe(s)
  await s.h.app.db.updateTable('users').set({ email: null }).where('id', '=', s.readerId).execute()
  const event = sessionEvent(s.h, 'checkout.session.completed', started.sessionId, { customer_details: { email: 'guest@example.com' } } as never)
  t.equal((await s.h.webhook(event)).statusCode, 200)
  const [mail] = await smtp.waitFor(1)
  t.same(mail!.envelope.to, ['guest@example.com'], 'no user email: the address Stripe collected')
  t.equal((await order(s.h, started.order.id)).status, 'paid')
})

t.test('SMTP down at grant time: the purchase is granted, the receipt waits and goes out when SMTP is back', async (t) => {
  const down = await closedSmtp()
  const s = await shop(t, { SMTP_URL: down.url })
  const { order: pending } = await buy(s)
  t.equal((await order(s.h, pending.id)).status, 'paid', 'granted whatever SMTP does')
  t.equal((await libraryRows(s.h)).length, 1)

  const deadline = Date.now() + 5000
  let row = (await s.h.app.outbox.rows.forOrder(pending.id))[0]
  while ((row?.attempts ?? 0) === 0 && Date.now() < deadline) { await sleep(50); row = (await s.h.app.outbox.rows.forOrder(pending.id))[0] }
  t.equal(row?.attempts, 1, 'one failed attempt')
  t.match(row?.last_error, /ECONNREFUSED/)
  t.equal(row?.sent_at, null, 'still waiting')
  t.ok(new Date(row!.next_attempt_at).getTime() > Date.now() + 2000, 'the next attempt waits (backoff)')

  const smtp = await smtpServer(t, down.port)
  const [mail] = await smtp.waitFor(1, 15_000)
  t.match(mail!.text, pending.id)
  // The server has the mail once its DATA is accepted; the outbox marks the row when that answer
  // reaches it, a moment later.
  const marked = Date.now() + 5000
  row = (await s.h.app.outbox.rows.forOrder(pending.id))[0]
  while (row?.sent_at === null && Date.now() < marked) { await sleep(50); row = (await s.h.app.outbox.rows.forOrder(pending.id))[0] }
  t.ok(row?.sent_at, 'marked sent')
})

t.test('an admin resends a receipt from the order page: a new row, a new mail with a fresh link', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const { order: pending } = await buy(s)
  await smtp.waitFor(1)
  // The SMTP server has the mail a moment before the app hears its answer and marks the row sent.
  const marked = Date.now() + 5000
  while ((await s.h.app.outbox.rows.forOrder(pending.id))[0]?.sent_at === null && Date.now() < marked) await sleep(50)

  const page = await s.h.request(s.admin, { url: `/admin/orders/${pending.id}` })
  t.match(page.body, `action="/admin/orders/${pending.id}/receipt"`, 'the button is on the order page')
  t.match(page.body, 'Receipts sent: 1')
  const resent = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${pending.id}/receipt`, form: { _csrf: await s.h.csrf(s.admin) } })
  t.equal(resent.statusCode, 303)
  t.equal(resent.headers.location, `/admin/orders/${pending.id}`)
  const after = await s.h.request(s.admin, { url: `/admin/orders/${pending.id}` })
  t.match(after.body, 'A new receipt with a fresh download link is on its way to reader@example.com')
  const mails = await smtp.waitFor(2)
  t.equal(mails.length, 2)
  t.same(s.h.app.links.verify(linkToken(mails[0]!.text)).ok, true)
  t.equal((await s.h.app.outbox.rows.forOrder(pending.id)).length, 2)

  const reader = await s.h.request(s.reader, { method: 'POST', url: `/admin/orders/${pending.id}/receipt`, form: { _csrf: await s.h.csrf(s.reader) } })
  t.equal(reader.statusCode, 403, 'readers cannot')
  const unknown = await s.h.request(s.admin, { method: 'POST', url: '/admin/orders/00000000-0000-4000-8000-000000000000/receipt', form: { _csrf: await s.h.csrf(s.admin) } })
  t.equal(unknown.statusCode, 404)
})

t.test('line breaks in titles and store names never reach a mail header', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  await s.h.app.db.updateTable('content').set({ title: 'Guide\r\nBcc: evil@example.com\r\n\r\nInjected body' }).where('slug', '=', s.slug).execute()
  // Settings are read at start: a store name stored with a line break (by hand) is what we test.
  const settings = s.h.app.settings as unknown as { current: () => unknown, fresh: () => Promise<unknown> }
  const { current, fresh } = settings
  settings.current = () => ({ ...(current() as object), storeName: 'Shop\nX-Injected: yes' })
  settings.fresh = async () => settings.current()
  t.teardown(() => { settings.current = current; settings.fresh = fresh })
  await buy(s)
  const [mail] = await smtp.waitFor(1)
  t.same(mail!.envelope.to, ['reader@example.com'], 'no extra recipient')
  t.notOk(mail!.headerLines.some((line) => /^(bcc|x-injected):/i.test(line)), 'no injected header')
  t.equal(mail!.subject, 'Your receipt from Shop X-Injected: yes: Guide Bcc: evil@example.com Injected body', 'the subject is one line')
  t.match(mail!.from, 'Shop X-Injected: yes')
})

t.test('without SMTP_URL outside demo mode receipts are off: nothing is queued, and the purchase goes through', async (t) => {
  const s = await shop(t)
  t.equal(s.h.app.outbox.enabled, false)
  const { order: pending } = await buy(s)
  t.equal((await s.h.app.outbox.rows.forOrder(pending.id)).length, 0, 'no row written')
  const page = await s.h.request(s.admin, { url: `/admin/orders/${pending.id}` })
  t.notMatch(page.body, 'Resend receipt')
  const resent = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${pending.id}/receipt`, form: { _csrf: await s.h.csrf(s.admin) } })
  t.equal(resent.statusCode, 409)
  t.match(resent.body, 'SMTP_URL')
})

t.test('SIGKILL with receipts queued: after a restart every receipt is delivered, once', async (t) => {
  const down = await closedSmtp()
  const d = await deployment(t, { SMTP_URL: down.url })
  let server = await d.start()
  const admin = await d.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const uploaded = await d.upload(admin, await uploadForm({ csrf: await csrfToken(d.url, admin, '/admin/content/new') }))
  t.equal(uploaded.status, 303)
  const slug = uploaded.headers.get('location')!.replace('/content/', '')

  const orderIds: string[] = []
  for (let i = 0; i < 5; i++) {
    const reader = await d.signIn({ email: `reader${i}@example.com`, sub: `reader${i}` })
    const token = await csrfToken(d.url, reader)
    const started = await fetch(`${d.url}/checkout/${slug}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: reader.header, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token }).toString()
    })
    t.equal(started.status, 303)
    const sessionId = started.headers.get('location')!.split('/pay/')[1]!
    await d.stripe.pay(sessionId)
    const success = await fetch(`${d.url}/checkout/success?session_id=${sessionId}`, { headers: { cookie: reader.header } })
    t.equal(success.status, 200, `purchase ${i} granted while SMTP is down`)
  }
  const database = await openTestDatabase(d.databasePath)
  try {
    const rows = await database.db.selectFrom('outbox').selectAll().execute()
    t.equal(rows.length, 5, 'five receipts queued')
    t.ok(rows.every((row) => row.sent_at === null), 'none sent')
    orderIds.push(...rows.map((row) => row.order_id!))
  } finally {
    await database.close()
  }

  const killed = await server.kill('SIGKILL')
  t.equal(killed.signal, 'SIGKILL')
  const smtp = await smtpServer(t, down.port)
  server = await d.start()
  const mails = await smtp.waitFor(5, 20_000)
  await sleep(500)
  t.equal(smtp.messages().length, 5, 'five receipts, no more')
  t.same(orderIds.map((id) => mails.filter((mail) => mail.text.includes(id)).length), [1, 1, 1, 1, 1], 'each order\'s receipt once')
  t.same(new Set(mails.flatMap((mail) => mail.envelope.to)).size, 5, 'each to its buyer')
  t.match(server.output(), 'mail left waiting by an earlier run')
  t.notMatch(server.output(), down.url, 'the SMTP URL is never logged')
  await server.kill('SIGTERM')
})
