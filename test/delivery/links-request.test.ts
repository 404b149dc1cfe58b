import t from 'tap'
import { LINKS_PER_HOUR } from '../../src/modules/mail/plugin.js'
import { sleep } from '../helpers/net.js'
import { buy, shop } from '../helpers/purchase.js'
import { linkToken, smtpServer } from '../helpers/smtp.js'

const SAME_ANSWER = 'If we have purchases for that address, a message with fresh links is on its way'

t.test('POST /links: the same answer with and without purchases; mail only for an address that bought', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const { order: paid } = await buy(s)
  await smtp.waitFor(1) // the receipt

  const form = await s.h.request(null, { url: '/links' })
  t.equal(form.statusCode, 200)
  t.match(form.body, 'Get your download links again')
  t.match(form.body, 'action="/links"')

  const known = await s.h.request(null, { method: 'POST', url: '/links', form: { email: 'Reader@Example.com' } })
  const unknown = await s.h.request(null, { method: 'POST', url: '/links', form: { email: 'nobody@example.com' } })
  t.equal(known.statusCode, 200)
  t.equal(unknown.statusCode, 200)
  t.match(known.body, SAME_ANSWER)
  t.equal(known.body.replace('Reader@Example.com', 'X'), unknown.body.replace('nobody@example.com', 'X'), 'the pages differ only by the address typed')

  const mails = await smtp.waitFor(2)
  await sleep(300)
  t.equal(smtp.messages().length, 2, 'one mail for the buyer, none for the stranger')
  const mail = mails[0]!
  t.same(mail.envelope.to, ['reader@example.com'], 'case-insensitive match, sent to the stored address')
  t.match(mail.subject, 'Your download links from')
  t.match(mail.text, 'A Field Guide to Testing')
  const check = s.h.app.links.verify(linkToken(mail.text))
  t.same(check.ok && check.orderId, paid.id, 'a fresh, valid link for the order')
})

t.test('POST /links: one mail lists every paid purchase of the address', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  await buy(s)
  const second = await s.h.upload(s.admin, { title: 'Second Volume', price: '7.50' })
  const slug = (second.headers.location as string).replace('/content/', '')
  await buy({ ...s, slug })
  await smtp.waitFor(2)
  await s.h.request(null, { method: 'POST', url: '/links', form: { email: 'reader@example.com' } })
  const [mail] = await smtp.waitFor(3)
  t.match(mail!.text, 'A Field Guide to Testing')
  t.match(mail!.text, 'Second Volume')
  t.match(mail!.text, '$7.50')
  t.equal(mail!.text.match(/\/d\//g)?.length, 2, 'two links in one mail')
})

t.test('POST /links: an invalid email is answered 400 with the form', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  for (const email of ['', 'not-an-email', 'a@b', 'x'.repeat(300) + '@example.com', 'reader@example.com\r\nBcc: evil@example.com']) {
    const answer = await s.h.request(null, { method: 'POST', url: '/links', form: { email } })
    t.equal(answer.statusCode, 400, JSON.stringify(email.slice(0, 40)))
    t.match(answer.body, 'Type the email address you paid with')
    t.match(answer.body, 'action="/links"')
  }
  t.equal(smtp.messages().length, 0)
})

t.test(`POST /links: at most ${LINKS_PER_HOUR} mails an address an hour, with the same answer after`, async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  await buy(s)
  await smtp.waitFor(1)
  for (let i = 0; i < LINKS_PER_HOUR + 2; i++) {
    const answer = await s.h.request(null, { method: 'POST', url: '/links', form: { email: 'reader@example.com' } })
    t.equal(answer.statusCode, 200)
    t.match(answer.body, SAME_ANSWER)
  }
  await smtp.waitFor(1 + LINKS_PER_HOUR)
  await sleep(500)
  t.equal(smtp.messages().length, 1 + LINKS_PER_HOUR, 'the receipt and three link mails, no more')
})

t.test('POST /links is rate limited per client', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url, RATE_LIMIT_PER_MINUTE: '3' })
  const statuses = []
  for (let i = 0; i < 5; i++) statuses.push((await s.h.request(null, { method: 'POST', url: '/links', form: { email: `n${i}@example.com` } })).statusCode)
  t.same(statuses, [200, 200, 200, 429, 429])
})
