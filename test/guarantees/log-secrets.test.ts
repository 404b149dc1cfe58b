import Fastify from 'fastify'
import t from 'tap'
import { loggerOptions, redactUrl } from '../../src/logging.js'
import { ADMIN_EMAIL, build, CookieJar, csrfFrom, type Harness, type Identity, signInFlow, uploadForm } from '../helpers/build.js'
import { type FakeProvider, type GitHubAccount, startFakeProvider } from '../helpers/fake-oauth.js'
import { linkToken, smtpLog } from '../helpers/smtp.js'

// Whoever reads the log must not learn a credential from it: not the app's secrets, and not an
// OAuth code or state that could still be redeemed.

const CLIENT = { id: 'log-test-client', secret: 'oauthClientSecretQ7x9ZkLm' }
const SECRETS = {
  OAUTH_CLIENT_SECRET: CLIENT.secret,
  SESSION_SECRET: 'sessionSecretVb3Nq8Lm2RtHj5Kw0Pz4Xc7Ys1Ud6Fg',
  STRIPE_SECRET_KEY: 'sk_test_logSecretW4e8R1t6Y',
  STRIPE_WEBHOOK_SECRET: 'whsec_logSecretP0o9I8u7Y'
}
// How the client secret travels to the token endpoint: Basic base64(id:secret), maybe URL-encoded.
const BASIC = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')
const FORBIDDEN_ALWAYS = [...Object.values(SECRETS), BASIC, encodeURIComponent(BASIC), Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64url')]

function capture () {
  const lines: string[] = []
  return { lines, stream: { write (line: string) { lines.push(line) } } }
}

/** /login, then the provider's answer, then /login/callback; returns the code and state that travelled. */
async function signIn (h: Harness, jar = new CookieJar()) {
  const { callback, done } = await signInFlow(h.send(jar), null)
  return { jar, done, code: callback.searchParams.get('code')!, state: callback.searchParams.get('state')! }
}

t.test('no log line holds a secret, an OAuth code or state, whatever the request did', async (t) => {
  const fake: FakeProvider<GitHubAccount> = await startFakeProvider('github', CLIENT, { id: 7, login: 'ada', name: 'Ada', emails: [{ email: ADMIN_EMAIL, primary: true, verified: true }] })
  t.teardown(fake.close)
  const log = capture()
  const h = await build(t, { ...SECRETS, OAUTH_PROVIDER: 'github', OAUTH_CLIENT_ID: CLIENT.id }, {
    config: (config) => { config.oauth!.endpoints = fake.endpoints },
    // trace: nothing a plugin writes at a quieter level may hold a secret either.
    logger: { ...loggerOptions('trace'), stream: log.stream }
  })
  const forbidden: string[] = [...FORBIDDEN_ALWAYS]

  // A callback whose code the provider refuses: simple-oauth2's error carries the token request.
  const failed = new CookieJar()
  await h.request(failed, { url: '/login' })
  const state = failed.cookies.get('oauth2-redirect-state')!
  t.ok(state, 'the state cookie was set')
  const code = 'bogusCodeHq2Wm9Tz'
  const rejected = await h.request(failed, { url: `/login/callback?code=${code}&state=${state}` })
  t.equal(rejected.statusCode, 400)
  forbidden.push(code, state)

  // A sign-in that works, as the admin (who then uploads an item to buy).
  const ok = await signIn(h)
  t.equal(ok.done.statusCode, 302)
  forbidden.push(ok.code, ok.state)

  // The provider's user API fails: a 502 logged at error level.
  fake.userApiStatus = 500
  const down = await signIn(h)
  t.equal(down.done.statusCode, 502)
  forbidden.push(down.code, down.state)
  fake.userApiStatus = undefined

  // Stripe fails while creating a Checkout Session: a 502 from the error handler.
  const upload = await h.upload(ok.jar, { title: 'Logged Item' })
  t.equal(upload.statusCode, 303)
  h.stripe.failNext(500, { type: 'api_error', message: 'Stripe fell over.' })
  const checkout = await h.request(ok.jar, { method: 'POST', url: '/checkout/logged-item', form: { _csrf: await h.csrf(ok.jar) } })
  t.equal(checkout.statusCode, 502)

  // A webhook with a forged signature.
  const webhook = await h.webhook({ id: 'evt_forged', type: 'checkout.session.completed', data: { object: {} } }, { signature: 't=1,v1=forged' })
  t.equal(webhook.statusCode, 400)

  // Tokens in a query string, whatever the route.
  await h.request(null, { url: '/?q=x&token=tokValueA1&access_token=atValueB2&id_token=idtValueC3&Code=upperD4' })
  forbidden.push('tokValueA1', 'atValueB2', 'idtValueC3', 'upperD4')

  const all = log.lines.join('')
  // The log did record these requests, so finding nothing below means something.
  t.match(all, /sign-in callback rejected/)
  t.match(all, /could not read the signed-in user/)
  t.match(all, /request failed/)
  t.match(all, /webhook rejected/)
  t.match(all, /\/login\/callback\?code=\[redacted\]&state=\[redacted\]/)
  t.match(all, /\/\?q=x&token=\[redacted\]/)
  for (const value of forbidden) {
    t.notOk(all.includes(value), `the log does not contain ${JSON.stringify(value)}`)
  }
})

t.test('at trace level, an upload, a receipt sent through an authenticating SMTP relay and a /d/ download log no cookie, SMTP password or download token', async (t) => {
  const SMTP_PASSWORD = 'smtpPassWord9Kx2Lq7Vt'
  const smtp = await smtpLog(t, { auth: { user: 'relay-user', pass: SMTP_PASSWORD } })
  const log = capture()
  const h = await build(t, { SMTP_URL: smtp.url }, { logger: { ...loggerOptions('trace'), stream: log.stream } })
  const forbidden = new Set([SMTP_PASSWORD])
  // On PostgreSQL the database's password is a secret of the same kind.
  if (h.config.database.kind === 'postgres') {
    const password = new URL(h.config.database.url).password
    if (password !== '') forbidden.add(password).add(decodeURIComponent(password))
  }
  // Every cookie value a request carried (the session cookie changes as the session does): after
  // each answer, what the jar holds is what the next request sends, as sent and URL-decoded.
  const request: Harness['request'] = async (jar, options) => {
    const response = await h.request(jar, options)
    for (const value of jar?.cookies.values() ?? []) forbidden.add(value).add(decodeURIComponent(value))
    return response
  }
  const csrf = async (jar: CookieJar): Promise<string> => csrfFrom((await request(jar, { url: '/library' })).body, '/library')
  const signIn = async (identity: Identity): Promise<CookieJar> => {
    const jar = new CookieJar()
    const { done } = await signInFlow(async (url) => await request(jar, { url }), identity)
    t.equal(done.statusCode, 302, `${identity.email} signed in`)
    return jar
  }

  // A multipart upload by the admin: @fastify/multipart logs busboy's options, headers included.
  const admin = await signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const form = await uploadForm({ title: 'Traced Item', price: '5.00', csrf: await csrf(admin) })
  const upload = await request(admin, { method: 'POST', url: '/admin/content', headers: { 'content-type': form.contentType }, payload: form.body })
  t.equal(upload.statusCode, 303)

  // A purchase whose receipt goes out through the relay, with a download link.
  const reader = await signIn({ email: 'reader@example.com', sub: 'reader' })
  const checkout = await request(reader, { method: 'POST', url: '/checkout/traced-item', form: { _csrf: await csrf(reader) } })
  t.equal(checkout.statusCode, 303)
  const sessionId = String(checkout.headers.location).split('/pay/')[1]!
  await h.stripe.pay(sessionId)
  t.equal((await request(reader, { url: `/checkout/success?session_id=${sessionId}` })).statusCode, 200)
  await smtp.waitFor(1)
  const token = linkToken(smtp.received()[0]!.text)
  forbidden.add(token)

  // The link followed by someone who is not signed in, and once more with a query and a Range.
  const download = await request(null, { url: `/d/${token}` })
  t.equal(download.statusCode, 200)
  t.equal(download.headers['content-type'], 'application/pdf')
  t.equal((await request(null, { url: `/d/${token}?x=1`, headers: { range: 'bytes=0-9' } })).statusCode, 206)

  const all = log.lines.join('')
  // The log did record these, so finding nothing below means something.
  t.match(all, /Providing options to busboy/)
  t.match(all, /"mail sent"/)
  t.match(all, /"url":"\/d\/\[redacted\]"/)
  t.match(all, /"url":"\/d\/\[redacted\]\?x=1"/)
  for (const value of forbidden) {
    if (value.length >= 8) t.notOk(all.includes(value), `the log does not contain ${JSON.stringify(value)}`)
  }
})

t.test('an error carrying its request and response is logged as type, message, code, statusCode, stack and cause only', async (t) => {
  const log = capture()
  const app = Fastify({ logger: { ...loggerOptions('info'), stream: log.stream } })
  t.teardown(() => app.close())
  const error = Object.assign(new Error('Response Error: 401 Unauthorized'), {
    code: 'E_TEST',
    output: { statusCode: 401 },
    data: { payload: Buffer.from('{"error":"invalid_client"}'), res: { headers: { 'set-cookie': 'x' } } },
    config: { headers: { authorization: `Basic ${BASIC}` } },
    cause: Object.assign(new Error('socket hang up'), { options: { headers: { authorization: `Basic ${BASIC}` } } })
  })
  app.log.warn({ err: error }, 'oops')
  const line = JSON.parse(log.lines.at(-1)!) as { err: Record<string, unknown> }
  t.same(Object.keys(line.err).sort(), ['cause', 'code', 'message', 'stack', 'statusCode', 'type'])
  t.same(Object.keys(line.err.cause as object).sort(), ['message', 'stack', 'type'])
  t.match(line.err, { type: 'Error', message: 'Response Error: 401 Unauthorized', code: 'E_TEST', statusCode: 401 })
  t.notOk(log.lines.join('').includes(BASIC))
  t.notOk(log.lines.join('').includes(CLIENT.secret))
})

t.test('a Cookie or Authorization header is redacted wherever a logged object holds it, and the object itself is left unchanged', async (t) => {
  const log = capture()
  const app = Fastify({ logger: { ...loggerOptions('trace'), stream: log.stream } })
  t.teardown(() => app.close())
  const headers = { cookie: 'session=cookieValueK3m9', 'content-type': 'text/html' }
  const options = { busboyOptions: { headers, limits: { files: 1 } }, request: { config: { headers: { Authorization: 'Bearer bearerValueP7q2' } } } }
  app.log.trace(options, 'options')
  app.log.info({ rawHeaders: ['Host', 'x', 'Cookie', 'session=rawCookieZ8w1', 'Proxy-Authorization', 'Basic proxyValueJ4n6'] }, 'raw')
  app.log.info({ authorization: 'Basic topLevelT5r3', headers: { 'set-cookie': ['session=setCookieV2c8'] } }, 'top')
  const all = log.lines.join('')
  for (const value of ['cookieValueK3m9', 'bearerValueP7q2', 'rawCookieZ8w1', 'proxyValueJ4n6', 'topLevelT5r3', 'setCookieV2c8']) {
    t.notOk(all.includes(value), `the log does not contain ${value}`)
  }
  const first = JSON.parse(log.lines[0]!) as typeof options
  t.same(first.busboyOptions, { headers: { cookie: '[redacted]', 'content-type': 'text/html' }, limits: { files: 1 } }, 'the rest is logged as it was')
  t.equal(headers.cookie, 'session=cookieValueK3m9', 'the logged object keeps its cookie')
  t.equal(options.request.config.headers.Authorization, 'Bearer bearerValueP7q2')
})

t.test('a download token in the path is logged as /d/[redacted], with the rest of the URL kept', async (t) => {
  t.equal(redactUrl('/d/abc.def'), '/d/[redacted]')
  t.equal(redactUrl('/d/abc.def/'), '/d/[redacted]/')
  t.equal(redactUrl('/d/abc?x=1&token=t'), '/d/[redacted]?x=1&token=[redacted]')
  t.equal(redactUrl('/d/'), '/d/[redacted]')
  t.equal(redactUrl('/content/d/abc'), '/content/d/abc', 'only the link route')
})

t.test('with Mollie, neither the API key nor its Authorization header reaches the log, whatever failed', async (t) => {
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
  const { fakeMollie } = await import('../helpers/fake-mollie.js')
  const mollie = await fakeMollie(t)
  const log = capture()
  const h = await build(t, { PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: mollie.apiKey, MOLLIE_API_URL: mollie.apiEndpoint, STORE_CURRENCY: 'eur' }, {
    logger: { ...loggerOptions('trace'), stream: log.stream }
  })
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  t.equal((await h.upload(admin, { title: 'Mollie Item' })).statusCode, 303)
  const reader = await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  // Mollie refuses the payment, then is down for a webhook's fetch.
  mollie.failNext(422)
  t.equal((await h.request(reader, { method: 'POST', url: '/checkout/mollie-item', form: { _csrf: await h.csrf(reader) } })).statusCode, 502)
  t.equal((await h.request(reader, { method: 'POST', url: '/checkout/mollie-item', form: { _csrf: await h.csrf(reader) } })).statusCode, 303)
  const paymentId = [...mollie.payments.keys()].at(-1)!
  mollie.failNext(503)
  const hook = await h.app.inject({ method: 'POST', url: '/webhooks/mollie', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `id=${paymentId}` })
  t.equal(hook.statusCode, 503)
  const all = log.lines.join('')
  t.match(all, /could not create a checkout session/)
  t.match(all, /the payment could not be fetched/)
  t.notOk(all.includes(mollie.apiKey), 'the log does not contain the Mollie API key')
  t.notOk(all.includes(mollie.apiKey.slice(5)), 'nor its secret part')
})
