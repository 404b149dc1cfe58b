// backends: sqlite, postgres-s3
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { build, CookieJar, csrfFrom, testPdfPool } from '../helpers/build.js'
import { injectRequest } from '../helpers/harness-requests.js'
import { smtpServer } from '../helpers/smtp.js'

// Two instances of one database (and store): a sign-in link asked of one is used on the other,
// once; an unsubscribe on one holds on the other.

t.test('two instances: a link asked of one signs in on the other, once; an unsubscribe on one holds on both', async (t) => {
  const smtp = await smtpServer(t)
  const h = await build(t, { SMTP_URL: smtp.url })
  const second = await buildApp(h.config, { pdfJobs: 'on-demand', pdfPool: testPdfPool() })
  t.teardown(async () => { await second.close() })
  await second.ready()
  const onB = injectRequest(second)

  const visitor = new CookieJar()
  const page = await h.request(visitor, { url: '/login?next=/library' })
  const asked = await h.request(visitor, { method: 'POST', url: '/login/email', form: { email: 'two@example.com', next: '/library', _csrf: csrfFrom(page.body, 'the login page') } })
  t.equal(asked.statusCode, 200)
  const [mail] = await smtp.waitFor(1)
  const token = /\/login\/email\/([A-Za-z0-9_.-]+)/.exec(mail!.text)![1]!

  const jar = new CookieJar()
  const button = await onB(jar, { url: `/login/email/${token}` })
  t.equal(button.statusCode, 200, 'the other instance shows the button')
  const done = await onB(jar, { method: 'POST', url: `/login/email/${token}`, form: { _csrf: csrfFrom(button.body, 'the button page') } })
  t.equal(done.statusCode, 303, 'and signs in')
  t.equal((await h.request(jar, { url: '/library' })).statusCode, 200, 'the session holds on the first instance too')
  const replayJar = new CookieJar()
  const replay = await h.request(replayJar, { url: `/login/email/${token}` })
  t.equal(replay.statusCode, 410, 'the link is used up on both')

  const unsubscribe = new URL(h.app.audience.unsubscribeUrl('two@example.com')).pathname
  const stop = await onB(new CookieJar(), { method: 'POST', url: unsubscribe })
  t.ok(stop.statusCode < 400, `unsubscribed on the second instance (${stop.statusCode})`)
  t.equal(await h.app.audience.isUnsubscribed('two@example.com'), true, 'the first instance honours it')
})
