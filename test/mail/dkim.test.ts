import { generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { simpleParser } from 'mailparser'
import { SMTPServer } from 'smtp-server'
import { build, CookieJar, csrfFrom } from '../helpers/build.js'
import { sleep } from '../helpers/net.js'

t.test('with DKIM_* set every mail is signed for the domain and selector, and has both parts, a Date and a Message-ID', async (t) => {
  const raw: Array<{ headers: Map<string, string>, text: string, html: string }> = []
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData (stream, _session, callback) {
      simpleParser(stream).then((parsed) => {
        raw.push({ headers: new Map(parsed.headerLines.map((line) => [line.key, line.line])), text: parsed.text ?? '', html: typeof parsed.html === 'string' ? parsed.html : '' })
        callback()
      }, callback)
    }
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }) }) })
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const h = await build(t, {
    SMTP_URL: `smtp://127.0.0.1:${(server.server.address() as { port: number }).port}`,
    MAIL_FROM: 'Shop <orders@shop.example>',
    DKIM_DOMAIN: 'shop.example',
    DKIM_SELECTOR: 'mail',
    DKIM_PRIVATE_KEY: pem.replace(/\n/g, '\\n')
  })
  const jar = new CookieJar()
  const page = await h.request(jar, { url: '/login' })
  await h.request(jar, { method: 'POST', url: '/login/email', form: { email: 'reader@example.com', _csrf: csrfFrom(page.body, '/login') } })
  const deadline = Date.now() + 10_000
  while (raw.length === 0 && Date.now() < deadline) await sleep(25)
  const mail = raw[0]!
  t.match(mail.headers.get('dkim-signature'), /d=shop\.example;/)
  t.match(mail.headers.get('dkim-signature'), /s=mail;/)
  t.match(mail.headers.get('message-id'), /<outbox\.\d+\.[0-9a-z]+@shop\.example>/)
  t.ok(mail.headers.get('date'))
  t.ok(mail.text.length > 0 && mail.html.length > 0, 'a plain-text and an HTML part')
})
