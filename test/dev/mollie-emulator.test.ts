// The official client only speaks https and pins its own CA bundle; the emulator's certificate is
// self-signed, so this process trusts any (read at connection time, after the imports below).
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { createMollieClient, MollieApiError } from '@mollie/api-client'
import t, { type Test } from 'tap'
import { startMollieEmulator } from '../../src/dev/mollie-emulator/index.js'
import { sleep } from '../helpers/net.js'
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

const API_KEY = 'test_emulatorKey0123456789abcdefgh'

interface Received { contentType: string | undefined, userAgent: string | undefined, body: string, path: string }

/** A shop's webhook endpoint on loopback: records each call and answers the next status queued (200 after). */
async function webhookReceiver (t: Test): Promise<{ url: string, received: Received[], answers: number[] }> {
  const received: Received[] = []
  const answers: number[] = []
  const server: Server = createServer((req: IncomingMessage, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      received.push({ contentType: req.headers['content-type'], userAgent: req.headers['user-agent'], body, path: req.url ?? '' })
      res.statusCode = answers.shift() ?? 200
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => { await new Promise((resolve) => server.close(resolve)) })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  return { url: `http://127.0.0.1:${port}/webhooks/mollie`, received, answers }
}

async function setup (t: Test) {
  const emulator = await startMollieEmulator({ apiKey: API_KEY, retryDelaysMs: [30, 30] })
  t.teardown(emulator.close)
  const hook = await webhookReceiver(t)
  const mollie = createMollieClient({ apiKey: API_KEY, apiEndpoint: emulator.apiEndpoint })
  return { emulator, hook, mollie }
}

/** Waits (bounded) until the condition holds. */
async function until (condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (condition()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

/** The ApiError a call is refused with. */
async function refusal (call: Promise<unknown>): Promise<MollieApiError> {
  try {
    await call
  } catch (err) {
    if (err instanceof MollieApiError) return err
    throw err
  }
  throw new Error('the call was not refused')
}

const params = (webhookUrl: string, over: Record<string, unknown> = {}) => ({
  amount: { currency: 'EUR', value: '10.00' },
  description: 'Field notes (PDF)',
  redirectUrl: 'https://shop.example/checkout/success?order=abc&x=1',
  webhookUrl,
  metadata: { order_id: 'ord_123', nested: [1, 2] },
  ...over
})

/** The checkout page's form, as a browser would submit it. */
function checkoutForm (html: string): { action: string, buttons: Array<{ name: string, value: string, label: string }> } {
  const action = /<form[^>]*method="post"[^>]*action="([^"]+)"/.exec(html)?.[1]
  if (action === undefined) throw new Error('no form on the checkout page')
  const buttons = [...html.matchAll(/<button[^>]*name="([^"]+)" value="([^"]+)"[^>]*><strong>([^<]+)<\/strong>/g)]
    .map((m) => ({ name: m[1]!, value: m[2]!, label: m[3]! }))
  return { action, buttons }
}

t.test('a payment is created and read back through the official client, in Mollie\'s shape', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const payment = await mollie.payments.create(params(hook.url))
  t.match(payment.id, /^tr_[A-Za-z0-9]+$/)
  t.equal(payment.resource, 'payment')
  t.equal(payment.mode, 'test')
  t.equal(payment.status, 'open')
  t.equal(payment.method, null)
  t.equal(payment.sequenceType, 'oneoff')
  t.equal(payment.isCancelable, false)
  t.same(payment.amount, { currency: 'EUR', value: '10.00' })
  t.same(payment.metadata, { order_id: 'ord_123', nested: [1, 2] })
  t.equal(payment.redirectUrl, 'https://shop.example/checkout/success?order=abc&x=1')
  t.equal(payment.webhookUrl, hook.url)
  t.match(payment.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
  t.ok(payment.expiresAt)
  t.match(payment.profileId, /^pfl_/)
  t.equal(payment.amountRefunded, undefined, 'no refund amounts before it is paid')
  const checkout = payment.getCheckoutUrl()
  t.ok(checkout?.startsWith(`${emulator.pagesUrl}/checkout/`), 'the checkout link is on the http pages origin')
  t.equal(payment._links.checkout?.type, 'text/html')
  t.equal(payment._links.self.href, `${emulator.url}/v2/payments/${payment.id}`)
  t.ok(emulator.payments.has(payment.id))

  const again = await mollie.payments.get(payment.id)
  t.equal(again.id, payment.id)
  t.same(again.metadata, payment.metadata)

  // Zero-decimal currencies take whole numbers.
  const yen = await mollie.payments.create(params(hook.url, { amount: { currency: 'JPY', value: '500' } }))
  t.same(yen.amount, { currency: 'JPY', value: '500' })
})

t.test('the wire format: 201 application/hal+json, errors with status, title, detail, field and a documentation link', async (t) => {
  const { emulator, hook } = await setup(t)
  const post = async (body: unknown, key = API_KEY) => await fetch(`${emulator.apiEndpoint}payments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body)
  })
  const created = await post(params(hook.url))
  t.equal(created.status, 201)
  t.equal(created.headers.get('content-type'), 'application/hal+json')

  const bad = await post(params(hook.url, { amount: { currency: 'EUR', value: '10.0' } }))
  t.equal(bad.status, 422)
  t.equal(bad.headers.get('content-type'), 'application/hal+json')
  t.same(await bad.json(), {
    status: 422,
    title: 'Unprocessable Entity',
    detail: 'The amount contains an invalid value',
    field: 'amount.value',
    _links: { documentation: { href: 'https://docs.mollie.com/overview/handling-errors', type: 'text/html' } }
  })

  const anonymous = await fetch(`${emulator.apiEndpoint}payments/tr_x`)
  t.equal(anonymous.status, 401)
  t.match(await anonymous.json(), { status: 401, title: 'Unauthorized Request', _links: { documentation: { type: 'text/html' } } })
})

t.test('bad requests surface as the client\'s ApiError with Mollie\'s status and field', async (t) => {
  const { hook, mollie, emulator } = await setup(t)
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['wrong decimals for EUR', { amount: { currency: 'EUR', value: '10' } }, 'amount.value'],
    ['three decimals', { amount: { currency: 'EUR', value: '10.005' } }, 'amount.value'],
    ['decimals for JPY', { amount: { currency: 'JPY', value: '500.00' } }, 'amount.value'],
    ['a negative amount', { amount: { currency: 'EUR', value: '-1.00' } }, 'amount.value'],
    ['a number instead of a string', { amount: { currency: 'EUR', value: 10 } }, 'amount.value'],
    ['a zero amount', { amount: { currency: 'EUR', value: '0.00' } }, 'amount.value'],
    ['no amount', { amount: undefined }, 'amount'],
    ['an unsupported currency', { amount: { currency: 'KWD', value: '1.000' } }, 'amount.currency'],
    ['a lower-case currency', { amount: { currency: 'eur', value: '1.00' } }, 'amount.currency'],
    ['no description', { description: undefined }, 'description'],
    ['an empty description', { description: '  ' }, 'description'],
    ['no redirectUrl', { redirectUrl: undefined }, 'redirectUrl'],
    ['a redirectUrl that is no URL', { redirectUrl: 'not a url' }, 'redirectUrl'],
    ['an unknown method', { method: 'cash' }, 'method'],
    ['a bad locale', { locale: 'dutch' }, 'locale']
  ]
  for (const [what, over, field] of cases) {
    const error = await refusal(mollie.payments.create(params(hook.url, over) as never))
    t.equal(error.statusCode, 422, `${what}: 422`)
    t.equal(error.field, field, `${what}: field ${field}`)
    t.equal(Reflect.get(error, 'title'), 'Unprocessable Entity')
  }
  t.equal(emulator.payments.size, 0, 'nothing was created')

  const missing = await refusal(mollie.payments.get('tr_doesnotexist'))
  t.equal(missing.statusCode, 404)
  t.equal(missing.message, 'No payment exists with token tr_doesnotexist.')

  const wrongKey = createMollieClient({ apiKey: 'test_someoneElsesKey0123456789abcd', apiEndpoint: emulator.apiEndpoint })
  const unauthorized = await refusal(wrongKey.payments.create(params(hook.url)))
  t.equal(unauthorized.statusCode, 401)
  t.equal(unauthorized.message, 'Missing authentication, or failed to authenticate')
})

t.test('any test_ or live_ key is accepted when none is configured, and no other', async (t) => {
  const emulator = await startMollieEmulator()
  t.teardown(emulator.close)
  const get = async (auth: string | null) => (await fetch(`${emulator.apiEndpoint}payments/tr_none`, { headers: auth === null ? {} : { authorization: auth } })).status
  t.equal(await get('Bearer test_anything123'), 404)
  t.equal(await get('Bearer live_anything123'), 404)
  t.equal(await get('Bearer sk_test_123'), 401)
  t.equal(await get('Basic dGVzdF94Og=='), 401)
  t.equal(await get(null), 401)
})

t.test('an Idempotency-Key replays the first answer for the same body and refuses another body', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const first = await mollie.payments.create({ ...params(hook.url), idempotencyKey: 'order-1' })
  const replay = await mollie.payments.create({ ...params(hook.url), idempotencyKey: 'order-1' })
  t.equal(replay.id, first.id, 'same key, same body: the same payment')
  t.equal(emulator.payments.size, 1)
  const other = await refusal(mollie.payments.create({ ...params(hook.url, { description: 'Something else' }), idempotencyKey: 'order-1' }))
  t.equal(other.statusCode, 422)
  t.equal(emulator.payments.size, 1)
  const fresh = await mollie.payments.create({ ...params(hook.url), idempotencyKey: 'order-2' })
  t.not(fresh.id, first.id)
  // Without a key of its own, the client sends a random one per call: two payments.
  await mollie.payments.create(params(hook.url))
  await mollie.payments.create(params(hook.url))
  t.equal(emulator.payments.size, 4)
})

t.test('the hosted page: Paid calls the webhook (retried after a 500) and sends the buyer back to redirectUrl', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const created = await mollie.payments.create(params(hook.url))
  const page = await fetch(created.getCheckoutUrl()!)
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /^text\/html/)
  const html = await page.text()
  t.match(html, 'Field notes (PDF)')
  t.match(html, '€10.00')
  const form = checkoutForm(html)
  t.same(form.buttons.map((b) => b.label), ['Paid', 'Failed', 'Canceled', 'Expired'])
  const paid = form.buttons.find((b) => b.label === 'Paid')!

  hook.answers.push(500)
  const submit = await fetch(new URL(form.action, emulator.pagesUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ [paid.name]: paid.value }).toString(),
    redirect: 'manual'
  })
  t.equal(submit.status, 303)
  t.equal(submit.headers.get('location'), 'https://shop.example/checkout/success?order=abc&x=1', 'redirectUrl exactly, nothing added')

  await until(() => emulator.deliveries.length === 2, 'the retried webhook')
  for (const call of hook.received) {
    t.equal(call.path, '/webhooks/mollie')
    t.equal(call.contentType, 'application/x-www-form-urlencoded')
    t.equal(call.body, `id=${created.id}`, 'only the id, no signature')
  }
  t.same(emulator.deliveries.map((d) => [d.status, d.attempt]), [[500, 1], [200, 2]])

  const payment = await mollie.payments.get(created.id)
  t.equal(payment.status, 'paid')
  t.ok(payment.paidAt)
  t.equal(payment.method, 'ideal')
  t.same(payment.amountRefunded, { currency: 'EUR', value: '0.00' })
  t.same(payment.amountRemaining, { currency: 'EUR', value: '10.00' })
  t.equal(payment.expiresAt, undefined)
  t.equal(payment._links.checkout, undefined, 'no checkout link once it is not open')
  t.equal(payment.getCheckoutUrl(), null)

  const closed = await fetch(created._links.checkout!.href)
  t.equal(closed.status, 410)
  t.match(await closed.text(), /no longer open/)
  const twice = await fetch(new URL(form.action, emulator.pagesUrl), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'status=failed', redirect: 'manual'
  })
  t.equal(twice.status, 410, 'a second choice changes nothing')
  t.equal((await mollie.payments.get(created.id)).status, 'paid')
})

t.test('a webhook that never answers 2xx is given up after the configured retries', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const created = await mollie.payments.create(params(hook.url))
  hook.answers.push(500, 502, 503, 500)
  await emulator.complete(created.id, 'paid')
  await until(() => emulator.deliveries.length === 3, 'three attempts')
  await sleep(100)
  t.same(emulator.deliveries.map((d) => d.status), [500, 502, 503], 'one attempt and two retries, then no more')
})

t.test('failed, canceled and expired end the payment with their timestamp', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const stamps = { failed: 'failedAt', canceled: 'canceledAt', expired: 'expiredAt' } as const
  for (const [outcome, stamp] of Object.entries(stamps) as Array<[keyof typeof stamps, (typeof stamps)[keyof typeof stamps]]>) {
    const created = await mollie.payments.create(params(hook.url))
    await emulator.complete(created.id, outcome)
    const payment = await mollie.payments.get(created.id)
    t.equal(payment.status, outcome)
    t.ok(payment[stamp], `${stamp} is set`)
    t.equal(payment.paidAt, undefined)
    t.equal(payment.amountRemaining, undefined)
    t.equal(hook.received.at(-1)?.body, `id=${created.id}`, `the webhook hears of ${outcome}`)
    await t.rejects(emulator.complete(created.id, 'paid'), /not open/, 'a finished payment cannot be completed again')
    const refused = await refusal(mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'EUR', value: '1.00' } }))
    t.equal(refused.statusCode, 422, `a ${outcome} payment cannot be refunded`)
  }
})

t.test('refunds: partial, then the rest; more than remains is 422; each one calls the webhook', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const created = await mollie.payments.create(params(hook.url))
  const open = await refusal(mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'EUR', value: '1.00' } }))
  t.equal(open.statusCode, 422, 'an open payment cannot be refunded')
  await emulator.complete(created.id, 'paid')
  const calls = hook.received.length

  const refund = await mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'EUR', value: '4.00' }, description: 'Partial' })
  t.equal(refund.resource, 'refund')
  t.match(refund.id, /^re_/)
  t.equal(refund.status, 'refunded')
  t.equal(refund.paymentId, created.id)
  t.equal(refund.description, 'Partial')
  t.same(refund.amount, { currency: 'EUR', value: '4.00' })
  t.equal(refund._links.payment.href, `${emulator.url}/v2/payments/${created.id}`)
  await until(() => hook.received.length === calls + 1, 'the refund webhook')
  t.equal(hook.received.at(-1)?.body, `id=${created.id}`, 'the webhook carries the payment id')

  let payment = await mollie.payments.get(created.id)
  t.equal(payment.status, 'paid', 'a refunded payment stays paid')
  t.same(payment.amountRefunded, { currency: 'EUR', value: '4.00' })
  t.same(payment.amountRemaining, { currency: 'EUR', value: '6.00' })
  t.ok(payment._links.refunds)

  const tooMuch = await refusal(mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'EUR', value: '6.01' } }))
  t.equal(tooMuch.statusCode, 422)
  t.equal(tooMuch.field, 'amount.value')
  const wrongCurrency = await refusal(mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'USD', value: '1.00' } }))
  t.equal(wrongCurrency.field, 'amount.currency')
  const badValue = await refusal(mollie.paymentRefunds.create({ paymentId: created.id, amount: { currency: 'EUR', value: '1' } }))
  t.equal(badValue.field, 'amount.value')
  const unknown = await refusal(mollie.paymentRefunds.create({ paymentId: 'tr_unknown000', amount: { currency: 'EUR', value: '1.00' } }))
  t.equal(unknown.statusCode, 404)

  await emulator.refund(created.id)
  payment = await mollie.payments.get(created.id)
  t.same(payment.amountRefunded, { currency: 'EUR', value: '10.00' }, 'amountRefunded equals the amount')
  t.same(payment.amountRemaining, { currency: 'EUR', value: '0.00' })
  const listed = await mollie.paymentRefunds.page({ paymentId: created.id })
  t.same(listed.map((r) => r.amount.value), ['4.00', '6.00'])
  await t.rejects(emulator.refund(created.id), /cannot be refunded/, 'nothing left to refund')
})

t.test('the dashboard lists payments and refunds a paid one', async (t) => {
  const { emulator, hook, mollie } = await setup(t)
  const open = await mollie.payments.create(params(hook.url, { description: 'Open <one>' }))
  const paid = await mollie.payments.create(params(hook.url, { description: 'Paid one', amount: { currency: 'JPY', value: '1500' } }))
  await emulator.complete(paid.id, 'paid')

  const list = await fetch(`${emulator.pagesUrl}/dashboard/payments`)
  t.equal(list.status, 200)
  const html = await list.text()
  t.match(html, 'Open &lt;one&gt;', 'descriptions are escaped')
  t.match(html, '¥1,500')
  t.match(html, `action="/dashboard/payments/${paid.id}/refund"`)
  t.notMatch(html, `action="/dashboard/payments/${open.id}/refund"`, 'only a paid payment has a refund button')

  const dashboardLink = await fetch(paid._links.dashboard.href, { redirect: 'manual' })
  t.equal(dashboardLink.status, 303)
  t.equal(dashboardLink.headers.get('location'), `/dashboard/payments#${paid.id}`)

  const tooMuch = await fetch(`${emulator.pagesUrl}/dashboard/payments/${paid.id}/refund`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=2000', redirect: 'manual'
  })
  t.equal(tooMuch.status, 400)
  t.match(await tooMuch.text(), /cannot be refunded/)

  const refunded = await fetch(`${emulator.pagesUrl}/dashboard/payments/${paid.id}/refund`, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'amount=', redirect: 'manual'
  })
  t.equal(refunded.status, 303)
  t.same((await mollie.payments.get(paid.id)).amountRefunded, { currency: 'JPY', value: '1500' })
})
