import { createMollieClient, MollieApiError } from '@mollie/api-client'
import t from 'tap'
import { fakeMollie, type FakeMollie } from '../../helpers/fake-mollie.js'

// The official client pins its own CA bundle; the fake's certificate is self-signed.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'

const order = {
  description: 'Order 42',
  redirectUrl: 'http://127.0.0.1:3000/checkout/success?order=42',
  webhookUrl: 'http://127.0.0.1:3000/webhooks/mollie',
  metadata: { order_id: '42' }
}

function client (fake: FakeMollie, apiKey = fake.apiKey) {
  return createMollieClient({ apiKey, apiEndpoint: fake.apiEndpoint })
}

/** The client's ApiError a call ends in; anything else fails the test. */
async function apiError (promise: Promise<unknown>): Promise<MollieApiError> {
  try {
    await promise
  } catch (error) {
    if (error instanceof MollieApiError) return error
    throw error
  }
  throw new Error('expected the call to fail with an ApiError')
}

t.test('a payment is created open, with a checkout link, and read back as served', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  const payment = await mollie.payments.create({ amount: { currency: 'EUR', value: '7.50' }, ...order })
  t.match(payment, { resource: 'payment', mode: 'test', status: 'open', amount: { currency: 'EUR', value: '7.50' }, ...order })
  t.match(payment.id, /^tr_\w{10}$/)
  t.match(payment.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
  t.equal(payment.getCheckoutUrl(), `${fake.url}/checkout/${payment.id}`)
  t.equal(payment.amountRefunded, undefined, 'like Mollie, refund amounts appear once paid')
  t.same(fake.requests.map((r) => [r.method, r.path]), [['POST', '/v2/payments']])

  fake.setStatus(payment.id, 'paid')
  const paid = await mollie.payments.get(payment.id)
  t.equal(paid.status, 'paid')
  t.match(paid.paidAt, /\+00:00$/)
  t.same(paid.amountRemaining, { currency: 'EUR', value: '7.50' })
  t.same(paid.amountRefunded, { currency: 'EUR', value: '0.00' })
  t.same(JSON.parse(JSON.stringify(fake.payments.get(payment.id))), JSON.parse(JSON.stringify({ ...paid })), 'the map holds what is served')
})

t.test('amounts follow the currency: yen has no decimals, euros two', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  const yen = await mollie.payments.create({ amount: { currency: 'JPY', value: '1200' }, ...order })
  t.same(yen.amount, { currency: 'JPY', value: '1200' })
  for (const amount of [{ currency: 'JPY', value: '1200.00' }, { currency: 'EUR', value: '7.5' }, { currency: 'EUR', value: '7.505' }, { currency: 'EUR', value: '0.00' }, { currency: 'XYZ', value: '1.00' }]) {
    const error = await apiError(mollie.payments.create({ amount, ...order }))
    t.equal(error.statusCode, 422, `${amount.value} ${amount.currency}`)
    t.match(error.field, /^amount\./)
  }
  const missing = await apiError(mollie.payments.create({ amount: { currency: 'EUR', value: '1.00' }, ...order, description: '' }))
  t.match(missing, { statusCode: 422, field: 'description' })
})

t.test('a refund of a paid payment is pending and lowers what remains; more than remains is a 422', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  const { id } = await mollie.payments.create({ amount: { currency: 'JPY', value: '1200' }, ...order })

  const early = await apiError(mollie.paymentRefunds.create({ paymentId: id, amount: { currency: 'JPY', value: '1200' } }))
  t.equal(early.statusCode, 422, 'an open payment cannot be refunded')

  fake.setStatus(id, 'paid')
  const refund = await mollie.paymentRefunds.create({ paymentId: id, amount: { currency: 'JPY', value: '200' } })
  t.match(refund, { resource: 'refund', status: 'pending', paymentId: id, amount: { currency: 'JPY', value: '200' } })
  t.match(refund.id, /^re_/)
  const after = await mollie.payments.get(id)
  t.same([after.amountRefunded, after.amountRemaining], [{ currency: 'JPY', value: '200' }, { currency: 'JPY', value: '1000' }])

  const tooMuch = await apiError(mollie.paymentRefunds.create({ paymentId: id, amount: { currency: 'JPY', value: '1001' } }))
  t.match(tooMuch, { statusCode: 422, title: 'Unprocessable Entity', field: 'amount.value' })
  t.ok(tooMuch.getDocumentationUrl())
  const otherCurrency = await apiError(mollie.paymentRefunds.create({ paymentId: id, amount: { currency: 'EUR', value: '1.00' } }))
  t.equal(otherCurrency.field, 'amount.currency')
  t.equal(fake.payments.get(id)?.amountRemaining?.value, '1000', 'refused refunds change nothing')
})

t.test('unknown ids are 404, a wrong key 401, both with Mollie error bodies', async (t) => {
  const fake = await fakeMollie(t)
  const unknown = await apiError(client(fake).payments.get('tr_unknown000'))
  t.match(unknown, { statusCode: 404, title: 'Not Found', message: 'No payment exists with token tr_unknown000.' })
  const refund = await apiError(client(fake).paymentRefunds.create({ paymentId: 'tr_unknown000', amount: { currency: 'EUR', value: '1.00' } }))
  t.equal(refund.statusCode, 404)
  const badKey = await apiError(client(fake, 'test_wrongwrongwrongwrongwrongwr').payments.get('tr_unknown000'))
  t.match(badKey, { statusCode: 401, title: 'Unauthorized Request' })

  const response = await fetch(`${fake.apiEndpoint}payments/tr_unknown000`)
  t.equal(response.status, 401, 'no Bearer key at all')
  t.equal(response.headers.get('content-type'), 'application/hal+json; charset=utf-8')
  t.match(await response.json(), { status: 401, detail: String, _links: { documentation: { href: String, type: 'text/html' } } })
})

t.test('failNext: a 503 on every attempt reaches the app; a single blip is hidden by the client retrying', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  fake.failNext(503)
  const error = await apiError(mollie.payments.create({ amount: { currency: 'EUR', value: '5.00' }, ...order, idempotencyKey: 'order-42' }))
  t.equal(error.statusCode, 503)
  t.equal(fake.payments.size, 0)
  t.same(fake.requests.map((r) => r.idempotencyKey), ['order-42', 'order-42', 'order-42'], 'the client tried three times with one key')

  fake.failNext(503, 1)
  const payment = await mollie.payments.create({ amount: { currency: 'EUR', value: '5.00' }, ...order, idempotencyKey: 'order-42' })
  t.equal(payment.status, 'open')
  t.equal(fake.payments.size, 1)

  fake.failNext(429)
  t.equal((await apiError(mollie.payments.get(payment.id))).statusCode, 429)
  t.equal((await mollie.payments.get(payment.id)).id, payment.id, 'only the next request fails')
})

t.test('an Idempotency-Key is honoured: the same answer and no second effect', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  const params = { amount: { currency: 'EUR', value: '9.00' }, ...order, idempotencyKey: 'pay-42' }
  const [first, second] = await Promise.all([mollie.payments.create(params), mollie.payments.create(params)])
  t.equal(first.id, second.id)
  t.equal(fake.payments.size, 1)

  fake.setStatus(first.id, 'paid')
  const refund = { paymentId: first.id, amount: { currency: 'EUR', value: '9.00' }, idempotencyKey: 'refund-42' }
  const refunds = await Promise.all(Array.from({ length: 5 }, async () => await mollie.paymentRefunds.create(refund)))
  t.same(new Set(refunds.map((refund) => refund.id)).size, 1, 'one refund, answered five times')
  t.equal(fake.payments.get(first.id)?.amountRefunded?.value, '9.00')

  const reused = await apiError(mollie.paymentRefunds.create({ ...refund, amount: { currency: 'EUR', value: '1.00' } }))
  t.equal(reused.statusCode, 422, 'a key reused for another request is refused')
  const again = await apiError(mollie.paymentRefunds.create({ ...refund, idempotencyKey: 'refund-42-again' }))
  t.equal(again.statusCode, 422, 'a new key is a new refund, and nothing remains')
})

t.test('test controls: statuses, refunds behind the app\'s back, patches and foreign payments', async (t) => {
  const fake = await fakeMollie(t)
  const mollie = client(fake)
  const { id } = await mollie.payments.create({ amount: { currency: 'EUR', value: '12.00' }, ...order })

  for (const [status, field] of [['failed', 'failedAt'], ['canceled', 'canceledAt'], ['expired', 'expiredAt']] as const) {
    const other = fake.foreign({ status })
    t.equal(other.status, status)
    t.match(other[field], /\+00:00$/)
    t.equal(other.expiresAt, undefined)
  }
  t.throws(() => fake.refundBehindBack(id), /cannot refund/, 'an open payment has nothing to refund')

  fake.setStatus(id, 'paid')
  fake.refundBehindBack(id, '2.00')
  t.match(await mollie.payments.get(id), { amountRefunded: { value: '2.00' }, amountRemaining: { value: '10.00' } })
  fake.refundBehindBack(id)
  t.match(await mollie.payments.get(id), { amountRefunded: { value: '12.00' }, amountRemaining: { value: '0.00' } })
  t.throws(() => fake.refundBehindBack(id, '0.01'))

  fake.patch(id, { amount: { currency: 'USD', value: '1.00' }, metadata: { order_id: '43' } })
  t.match(await mollie.payments.get(id), { amount: { currency: 'USD', value: '1.00' }, metadata: { order_id: '43' } })

  const foreign = fake.foreign({ status: 'paid', amount: { currency: 'EUR', value: '3.00' } })
  t.match(await mollie.payments.get(foreign.id), { status: 'paid', metadata: { order_id: String }, paidAt: String })
  t.throws(() => fake.setStatus('tr_nothing000', 'paid'), /no payment/)
})
