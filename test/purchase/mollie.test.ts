// backends: sqlite, postgres-s3
// Payments through Mollie (PAYMENT_PROVIDER=mollie): the same exactly-once guarantees as Stripe's
// (test/purchase/orders.test.ts, webhooks.test.ts, test/guarantees/storm.test.ts), through the official @mollie/api-client
// against an independent fake (test/helpers/fake-mollie.ts) that speaks Mollie's wire format.
import t from 'tap'
import { CookieJar } from '../helpers/build.js'
import { deliverLikeMollie, laterWebhook, lookups, mollieShop, startMollie, successPage, timeline, webhook } from '../helpers/mollie-shop.js'
import { libraryRows, order, orders } from '../helpers/purchase.js'
import { fuzzSeed, seededRandom } from '../helpers/random.js'
import { smtpServer } from '../helpers/smtp.js'

t.test('a Mollie purchase: payment created before the redirect, granted by the webhook, the return page thanks', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId, location } = await startMollie(s)
  t.equal(location, s.mollie.payments.get(paymentId)!._links.checkout.href, 'the buyer goes to Mollie\'s payment page')
  const payment = s.mollie.payments.get(paymentId)!
  t.same(payment.amount, { currency: 'EUR', value: '5.00' }, 'the amount as a decimal string with the currency')
  t.equal(payment.redirectUrl, `${s.h.config.publicUrl}/checkout/success?order_id=${orderId}`)
  t.equal(payment.webhookUrl, `${s.h.config.publicUrl}/webhooks/mollie`)
  t.equal((await order(s.h, orderId)).provider, 'mollie')
  t.equal((await order(s.h, orderId)).provider_checkout_id, paymentId)
  const create = s.mollie.requests.find((r) => r.method === 'POST' && r.path === '/v2/payments')!
  t.ok(create.idempotencyKey?.includes(orderId), 'an idempotency key per order')

  t.same((await webhook(s.h, paymentId)).body.outcome, 'processing', 'an open payment grants nothing')
  s.mollie.setStatus(paymentId, 'paid')
  const hook = await laterWebhook(s, paymentId)
  t.equal(hook.statusCode, 200)
  t.equal(hook.body.outcome, 'granted')
  t.equal((await order(s.h, orderId)).status, 'paid')
  t.equal((await libraryRows(s.h)).length, 1)
  const page = await successPage(s, s.reader, orderId)
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Thank you')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'duplicate', 'the same state again changes nothing')
})

t.test('the return before the webhook grants; the webhook after it changes nothing; 50 repeats change nothing', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  const early = await successPage(s, s.reader, orderId)
  t.equal(early.statusCode, 200)
  t.match(early.body, 'Payment not completed', 'a return while the payment is open is not a purchase')
  s.mollie.setStatus(paymentId, 'paid')
  t.match((await successPage(s, s.reader, orderId)).body, 'Thank you')
  const repeats = await deliverLikeMollie(s, Array.from({ length: 50 }, () => paymentId))
  t.ok(repeats.every((r) => r.statusCode === 200), 'every repeat is answered 200 in the end')
  t.ok(repeats.every((r) => r.body.outcome === 'already_paid' || r.body.outcome === 'duplicate'), 'each is already paid or a duplicate')
  t.equal(repeats.filter((r) => r.body.outcome === 'granted').length, 0, 'none grants again')
  t.equal((await libraryRows(s.h)).length, 1)
  t.equal((await timeline(s.h, orderId)).filter((e) => e.detail?.includes('access granted') === true).length, 1, 'granted once on the timeline')
})

t.test('the return and the webhook at the same moment grant exactly once', async (t) => {
  const s = await mollieShop(t)
  for (let round = 0; round < 5; round++) {
    const jar = await s.h.signIn({ email: `racer${round}@example.com`, sub: `racer${round}` })
    const { paymentId, orderId } = await startMollie(s, jar)
    s.mollie.setStatus(paymentId, 'paid')
    const [page, hook] = await Promise.all([successPage(s, jar, orderId), webhook(s.h, paymentId)])
    t.equal(page.statusCode, 200)
    t.match(page.body, 'Thank you')
    t.equal(hook.statusCode, 200)
    const granted = (await timeline(s.h, orderId)).filter((e) => e.detail?.includes('access granted') === true)
    t.equal(granted.length, 1, `round ${round}: one grant`)
  }
  t.equal((await libraryRows(s.h)).length, 5)
})

t.test('webhook ids that are not ours: malformed, unknown to Mollie, another store\'s, or naming our order from another payment', async (t) => {
  const s = await mollieShop(t)
  const before = s.mollie.requests.length
  for (const id of ['', 'abc', 'tr_', 'tr_../../v2/payments', 'tr_' + 'a'.repeat(200), '<script>']) {
    const hook = await webhook(s.h, id)
    t.equal(hook.statusCode, 200, `"${id.slice(0, 20)}" is acknowledged`)
  }
  t.equal(s.mollie.requests.length, before, 'malformed ids never reach Mollie')
  t.same((await webhook(s.h, 'tr_doesnotexist')).body, { received: true, ignored: true }, 'an id Mollie does not know: 200 and ignored')

  const foreign = s.mollie.foreign({ status: 'paid', metadata: { order_id: '00000000-0000-4000-8000-000000000000' } })
  t.equal((await webhook(s.h, foreign.id as string)).body.outcome, 'unknown_order', 'another store\'s paid payment grants nothing')
  const { orderId } = await startMollie(s)
  const impostor = s.mollie.foreign({ status: 'paid', metadata: { order_id: orderId } })
  t.equal((await webhook(s.h, impostor.id as string)).body.outcome, 'unknown_order', 'a payment naming our order that is not its payment grants nothing')
  t.equal((await order(s.h, orderId)).status, 'pending')
  t.equal((await libraryRows(s.h)).length, 0)
})

t.test('failed, canceled and expired payments end the order; the return page says so; nothing granted', async (t) => {
  const s = await mollieShop(t)
  for (const [status, expected] of [['failed', 'failed'], ['canceled', 'failed'], ['expired', 'expired']] as const) {
    const jar = await s.h.signIn({ email: `${status}@example.com`, sub: status })
    const { paymentId, orderId } = await startMollie(s, jar)
    s.mollie.setStatus(paymentId, status)
    if (status === 'canceled') {
      // The buyer comes back first (Mollie sends them to redirectUrl at once).
      t.match((await successPage(s, jar, orderId)).body, 'Payment not completed')
      t.equal((await order(s.h, orderId)).status, expected, 'the return ends the order')
    }
    const hook = await webhook(s.h, paymentId)
    t.equal(hook.statusCode, 200)
    t.equal((await order(s.h, orderId)).status, expected, `${status}: order ${expected}`)
  }
  t.equal((await libraryRows(s.h)).length, 0)
})

t.test('a paid amount or currency that differs from the order grants nothing and holds it for review', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  s.mollie.patch(paymentId, { amount: { currency: 'EUR', value: '0.50' } })
  t.equal((await webhook(s.h, paymentId)).body.outcome, 'mismatch')
  t.equal((await order(s.h, orderId)).status, 'review')
  const second = await startMollie(s, await s.h.signIn({ email: 'usd@example.com', sub: 'usd' }))
  s.mollie.setStatus(second.paymentId, 'paid')
  s.mollie.patch(second.paymentId, { amount: { currency: 'USD', value: '5.00' } })
  t.equal((await webhook(s.h, second.paymentId)).body.outcome, 'mismatch')
  t.equal((await libraryRows(s.h)).length, 0)
})

t.test('refunded before anything was granted: the webhook and the return grant nothing', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  s.mollie.refundBehindBack(paymentId)
  const hook = await webhook(s.h, paymentId)
  t.equal(hook.statusCode, 200)
  t.equal((await order(s.h, orderId)).status, 'refunded')
  const page = await successPage(s, s.reader, orderId)
  t.notMatch(page.body, 'Thank you', 'the return after the refund is no purchase')
  t.equal((await libraryRows(s.h)).length, 0)

  // The other way round: the buyer returns first to a payment already refunded.
  const jar = await s.h.signIn({ email: 'late@example.com', sub: 'late' })
  const late = await startMollie(s, jar)
  s.mollie.setStatus(late.paymentId, 'paid')
  s.mollie.refundBehindBack(late.paymentId)
  t.notMatch((await successPage(s, jar, late.orderId)).body, 'Thank you')
  t.equal((await order(s.h, late.orderId)).status, 'refunded')
  t.equal((await webhook(s.h, late.paymentId)).statusCode, 200)
  t.equal((await libraryRows(s.h)).length, 0)
})

t.test('a refund in Mollie\'s dashboard after the grant revokes access; a partial one keeps it', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  await webhook(s.h, paymentId)
  s.mollie.refundBehindBack(paymentId, '1.00')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'partial_refund', 'a partial refund keeps access')
  t.equal((await libraryRows(s.h)).length, 1)
  t.equal((await order(s.h, orderId)).refunded_cents, 100, 'Mollie\'s amountRefunded is recorded')
  t.equal((await order(s.h, orderId)).status, 'paid')
  s.mollie.refundBehindBack(paymentId)
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'refunded')
  t.equal((await order(s.h, orderId)).status, 'refunded')
  t.equal((await libraryRows(s.h)).length, 0)
  t.equal((await s.h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 403)
})

t.test('the admin\'s refund goes through Mollie once, even clicked twice, and revokes at once', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  await webhook(s.h, paymentId)
  const csrf = await s.h.csrf(s.admin)
  const [first, second] = await Promise.all([
    s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf } }),
    s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf } })
  ])
  t.equal(first.statusCode, 303)
  t.equal(second.statusCode, 303)
  const refunds = s.mollie.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/refunds'))
  const keys = new Set(refunds.map((r) => r.idempotencyKey))
  t.equal(keys.size, 1, 'one idempotency key: Mollie refunds once')
  t.same(s.mollie.payments.get(paymentId)!.amountRefunded, { currency: 'EUR', value: '5.00' }, 'the whole amount went back')
  t.equal((await order(s.h, orderId)).status, 'refunded')
  t.equal((await libraryRows(s.h)).length, 0)
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'already_refunded', 'Mollie\'s refund webhook afterwards changes nothing')
  const again = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf } })
  t.equal(again.statusCode, 303, 'refunding twice changes nothing')
})

t.test('the admin refunds part of a Mollie payment: that amount goes to Mollie, access is kept; the rest revokes', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  await laterWebhook(s, paymentId)
  const refundPosts = () => s.mollie.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/refunds'))
  const page = await s.h.request(s.admin, { url: `/admin/orders/${orderId}/refund` })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<dt>Left to refund<\/dt><dd><strong>€5\.00<\/strong><\/dd>/)
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!
  const partial = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf, refunded: '0.00', amount: '2.00' } })
  t.equal(partial.statusCode, 303)
  t.equal(refundPosts().length, 1)
  t.match(refundPosts()[0]!.body, { amount: { currency: 'EUR', value: '2.00' } }, 'the amount as a decimal string')
  t.equal(refundPosts()[0]!.idempotencyKey, `refund-${orderId}-0`)
  t.same(s.mollie.payments.get(paymentId)!.amountRefunded, { currency: 'EUR', value: '2.00' })
  t.equal((await order(s.h, orderId)).status, 'paid')
  t.equal((await order(s.h, orderId)).refunded_cents, 200)
  t.equal((await libraryRows(s.h)).length, 1, 'access kept')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'already_refunded', 'Mollie\'s webhook for it changes nothing')

  const rest = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf, refunded: '2.00' } })
  t.equal(rest.statusCode, 303, 'no amount: all that is left')
  t.match(refundPosts()[1]!.body, { amount: { currency: 'EUR', value: '3.00' } })
  t.equal(refundPosts()[1]!.idempotencyKey, `refund-${orderId}-200`)
  t.equal((await order(s.h, orderId)).status, 'refunded')
  t.equal((await order(s.h, orderId)).refunded_cents, 500)
  t.equal((await libraryRows(s.h)).length, 0, 'the last cent revokes')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'already_refunded')

  const bad = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form: { _csrf: csrf, amount: '1.00' } })
  t.equal(bad.statusCode, 303, 'refunded in full: nothing more to do')
  t.equal(refundPosts().length, 2)
})

t.test('a partial refund in Mollie\'s dashboard of a payment we had not heard was paid grants it, then records the refund', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  s.mollie.refundBehindBack(paymentId, '1.00')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'partial_refund')
  t.equal((await order(s.h, orderId)).status, 'paid', 'granted')
  t.equal((await order(s.h, orderId)).refunded_cents, 100)
  t.equal((await libraryRows(s.h)).length, 1)
})

t.test('a refund learnt from Mollie\'s amountRefunded emails the buyer one refund notice', async (t) => {
  const smtp = await smtpServer(t)
  const s = await mollieShop(t, { SMTP_URL: smtp.url })
  const { paymentId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  await laterWebhook(s, paymentId)
  await smtp.waitFor(1) // the receipt
  s.mollie.refundBehindBack(paymentId, '1.00')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'partial_refund')
  await smtp.waitFor(2)
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'duplicate', 'the same state again')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const notices = smtp.messages().filter((m) => m.subject.startsWith('Your refund'))
  t.equal(notices.length, 1)
  t.match(notices[0]!.text, 'You were refunded €1.00')
  t.match(notices[0]!.text, 'You keep the PDF')
})

t.test('Mollie unreachable: Buy shows a page saying nothing was charged; a webhook answers 503 and its retry grants', async (t) => {
  const s = await mollieShop(t)
  s.mollie.failNext(503)
  const csrf = await s.h.csrf(s.reader)
  const buy = await s.h.request(s.reader, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrf } })
  t.equal(buy.statusCode, 502)
  t.match(buy.body, 'Nothing was charged')
  t.equal((await orders(s.h))[0]?.status, 'failed', 'the order is not left pending')

  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  s.mollie.failNext(503)
  const hook = await webhook(s.h, paymentId)
  t.equal(hook.statusCode, 503, 'Mollie is asked to retry')
  t.equal((await order(s.h, orderId)).status, 'pending')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'granted', 'Mollie\'s retry, after the payment\'s lookup window, grants')
})

t.test('a guest buys with Mollie: the email is typed on our page, the purchase is that address\'s', async (t) => {
  const s = await mollieShop(t)
  const guest = new CookieJar()
  const page = await s.h.request(guest, { url: `/content/${s.slug}` })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!
  const without = await s.h.request(guest, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrf } })
  t.equal(without.statusCode, 400, 'Mollie does not ask for an address: ours must')
  t.equal((await orders(s.h)).length, 0)
  const bad = await s.h.request(guest, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrf, email: 'not an address' } })
  t.equal(bad.statusCode, 400)
  const { paymentId, orderId } = await startMollie(s, guest, { email: 'Guest@Example.com' })
  t.equal((s.mollie.payments.get(paymentId)!.metadata as { email?: string }).email, 'guest@example.com')
  s.mollie.setStatus(paymentId, 'paid')
  t.equal((await webhook(s.h, paymentId)).body.outcome, 'granted')
  const owner = await s.h.app.db.selectFrom('users').select('email').where('id', '=', (await order(s.h, orderId)).user_id).executeTakeFirstOrThrow()
  t.equal(owner.email, 'guest@example.com', 'the purchase belongs to the address typed')
  const before = lookups(s.mollie)
  for (let reload = 0; reload < 5; reload++) {
    const thanks = await successPage(s, guest, orderId)
    t.match(thanks.body, '/d/', 'the thank-you page in that browser has the download link')
    t.match(thanks.body, 'guest@example.com', 'and names the address the receipt goes to')
  }
  t.equal(lookups(s.mollie), before, 'reloads of the paid order ask Mollie nothing')
})

t.test('a storm of Mollie webhooks and returns, shuffled and repeated, grants each paid order exactly once', async (t) => {
  const seed = fuzzSeed()
  t.comment(`mollie storm ${seed.note}`)
  const random = seededRandom(seed)
  const s = await mollieShop(t)
  const buyers = await Promise.all(Array.from({ length: 12 }, async (_, i) => await s.h.signIn({ email: `storm${i}@example.com`, sub: `storm${i}` })))
  const started = []
  for (const jar of buyers) started.push({ jar, ...(await startMollie(s, jar)) })
  // Two thirds paid, the rest failed; each is told of 3 to 6 times, returns mixed in.
  const calls: Array<() => Promise<{ id: string, statusCode: number } | undefined>> = []
  started.forEach((p, i) => {
    s.mollie.setStatus(p.paymentId, i % 3 === 2 ? 'failed' : 'paid')
    const times = 3 + Math.floor(random() * 4)
    for (let n = 0; n < times; n++) calls.push(async () => ({ id: p.paymentId, statusCode: (await webhook(s.h, p.paymentId)).statusCode }))
    calls.push(async () => { await successPage(s, p.jar, p.orderId); return undefined })
  })
  for (let i = calls.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[calls[i], calls[j]] = [calls[j]!, calls[i]!]
  }
  // Notifications answered 503 (their payment was being looked up) come again later, as Mollie sends them.
  const answers = await Promise.all(calls.map(async (call) => await call()))
  await deliverLikeMollie(s, answers.filter((answer): answer is { id: string, statusCode: number } => answer !== undefined && answer.statusCode === 503).map((answer) => answer.id))
  const paid = started.filter((_, i) => i % 3 !== 2)
  t.equal((await libraryRows(s.h)).length, paid.length, `${paid.length} library rows (${seed.note})`)
  for (const [i, p] of started.entries()) {
    const current = await order(s.h, p.orderId)
    t.equal(current.status, i % 3 === 2 ? 'failed' : 'paid', `order ${i} (${seed.note})`)
    const grants = (await timeline(s.h, p.orderId)).filter((e) => e.detail?.includes('access granted') === true)
    t.equal(grants.length, i % 3 === 2 ? 0 : 1, `order ${i} granted at most once`)
  }
})

t.test('the return page of a decided Mollie order makes no Mollie lookup; a pending one still asks Mollie', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  t.match((await successPage(s, s.reader, orderId)).body, 'Payment not completed', 'open: asked, not paid')
  t.equal(lookups(s.mollie, paymentId), 1, 'the pending order was asked of Mollie')
  s.mollie.setStatus(paymentId, 'paid')
  t.match((await successPage(s, s.reader, orderId)).body, 'Thank you')
  t.equal(lookups(s.mollie, paymentId), 2, 'and asked again while pending: the return grants')
  for (let reload = 0; reload < 10; reload++) {
    const page = await successPage(s, s.reader, orderId)
    t.match(page.body, 'Thank you')
    t.match(page.body, `href="/content/${s.slug}/download"`)
  }
  t.equal(lookups(s.mollie, paymentId), 2, 'reloads of the paid order make no lookup')
  const mallory = await s.h.signIn({ email: 'mallory@example.com', sub: 'mallory' })
  t.equal((await successPage(s, mallory, orderId)).statusCode, 403, 'another account is still refused')

  // Failed and refunded orders answer from our records too.
  const jar = await s.h.signIn({ email: 'failed@example.com', sub: 'failed' })
  const failed = await startMollie(s, jar)
  s.mollie.setStatus(failed.paymentId, 'failed')
  t.equal((await webhook(s.h, failed.paymentId)).body.outcome, 'failed')
  const before = lookups(s.mollie)
  t.match((await successPage(s, jar, failed.orderId)).body, 'Payment not completed')
  s.mollie.refundBehindBack(paymentId)
  t.equal((await webhook(s.h, paymentId)).body.outcome, 'refunded')
  const afterRefund = lookups(s.mollie)
  t.match((await successPage(s, s.reader, orderId)).body, 'This purchase was refunded')
  t.equal(lookups(s.mollie), afterRefund, 'the refunded order\'s page makes no lookup')
  t.equal(afterRefund - before, 1, 'only the refund\'s webhook looked the payment up')
})

t.test('a pending or authorized Mollie payment is processing and grants nothing, by webhook or by the return page', async (t) => {
  const s = await mollieShop(t)
  for (const status of ['pending', 'authorized'] as const) {
    for (const path of ['webhook', 'return'] as const) {
      const jar = await s.h.signIn({ email: `${status}-${path}@example.com`, sub: `${status}-${path}` })
      const { paymentId, orderId } = await startMollie(s, jar)
      s.mollie.setStatus(paymentId, status)
      if (path === 'webhook') {
        const hook = await webhook(s.h, paymentId)
        t.equal(hook.statusCode, 200)
        t.equal(hook.body.outcome, 'processing', `${status} by webhook: processing`)
      } else {
        const page = await successPage(s, jar, orderId)
        t.equal(page.statusCode, 200)
        t.match(page.body, 'Payment processing', `${status} on return: the processing page`)
        t.ok(page.headers.refresh, 'which refreshes until the payment settles')
      }
      t.equal((await order(s.h, orderId)).status, 'pending', `${status} by ${path}: the order stays pending`)
      t.equal((await s.h.request(jar, { url: `/content/${s.slug}/download` })).statusCode, 403, 'no download')
    }
  }
  t.equal((await libraryRows(s.h)).length, 0, 'nothing granted')
})

t.test('two webhooks for one payment moving from open to paid, or open to failed, are two events: the second is applied', async (t) => {
  const s = await mollieShop(t)
  for (const [end, outcome, status] of [['paid', 'granted', 'paid'], ['failed', 'failed', 'failed']] as const) {
    const jar = await s.h.signIn({ email: `to-${end}@example.com`, sub: `to-${end}` })
    const { paymentId, orderId } = await startMollie(s, jar)
    const open = await webhook(s.h, paymentId)
    t.equal(open.body.outcome, 'processing', 'open: nothing yet')
    s.mollie.setStatus(paymentId, end)
    const second = await laterWebhook(s, paymentId)
    t.equal(second.statusCode, 200)
    t.equal(second.body.outcome, outcome, `open then ${end}: the second is applied, not a duplicate`)
    t.equal((await order(s.h, orderId)).status, status)
  }
  t.equal((await libraryRows(s.h)).length, 1, 'the paid one is granted')
})

t.test('with Mollie the Stripe webhook endpoint does not exist', async (t) => {
  const s = await mollieShop(t)
  const response = await s.h.app.inject({ method: 'POST', url: '/webhooks/stripe', headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=x' }, payload: '{}' })
  t.equal(response.statusCode, 404)
})
