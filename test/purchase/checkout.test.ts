import t from 'tap'
import { PUBLIC_URL } from '../helpers/build.js'
import { buy, checkout, lastEvent, libraryRows, order, orders, paidAtStripe, paymentState, shop, startCheckout, successPage } from '../helpers/purchase.js'

t.test('checkout creates a pending order at our price, then a Checkout Session with the contract parameters', async (t) => {
  const s = await shop(t)
  const { h } = s
  const response = await checkout(h, s.reader, s.slug)
  t.equal(response.statusCode, 303)
  const location = response.headers.location as string
  t.match(location, new RegExp(`^${h.stripe.url}/pay/cs_test_`), '303 to the session URL')
  const sessionId = location.slice(`${h.stripe.url}/pay/`.length)

  const all = await orders(h)
  t.equal(all.length, 1, 'one order')
  const created = all[0]!
  t.equal(created.status, 'pending')
  t.equal(created.amount_cents, 500)
  t.equal(created.currency, 'usd')
  t.equal(created.user_id, s.readerId)
  t.equal(created.provider_checkout_id, sessionId, 'the session id is stored on the order')
  t.equal(created.paid_at, null)

  const creates = h.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions')
  t.equal(creates.length, 1, 'one create call')
  const sent = creates[0]!
  const form = new URLSearchParams(sent.rawBody)
  t.equal(form.get('mode'), 'payment')
  t.equal(form.get('line_items[0][price_data][unit_amount]'), '500')
  t.equal(form.get('line_items[0][price_data][currency]'), 'usd')
  t.equal(form.get('line_items[0][price_data][product_data][name]'), 'A Field Guide to Testing')
  t.equal(form.get('line_items[0][quantity]'), '1')
  t.notOk([...form.keys()].some((k) => k.startsWith('line_items[0][price]') && !k.startsWith('line_items[0][price_data]')), 'inline price_data, no stored price')
  t.equal(form.get('client_reference_id'), created.id)
  t.equal(form.get('metadata[order_id]'), created.id)
  t.equal(form.get('customer_email'), 'reader@example.com')
  t.equal(form.get('success_url'), `${PUBLIC_URL}/checkout/success?session_id={CHECKOUT_SESSION_ID}`)
  t.equal(form.get('cancel_url'), `${PUBLIC_URL}/checkout/cancel?slug=${s.slug}`)
  t.notOk(form.has('expand[]') || form.has('expand[0]'), 'no expand')
  const key = sent.headers['idempotency-key']
  t.ok(key !== undefined && key.includes(created.id), 'the Idempotency-Key header is derived from the order')
  t.equal(sent.headers.authorization, 'Bearer sk_test_suite')
})

t.test('the store currency (STORE_CURRENCY) is the order\'s and the session\'s, and a purchase in it is granted', async (t) => {
  const s = await shop(t, { STORE_CURRENCY: 'EUR' })
  const { sessionId, order: pending } = await startCheckout(s.h, s.reader, s.slug)
  t.equal(pending.currency, 'eur')
  const sent = new URLSearchParams(s.h.stripe.requests.find((r) => r.path === '/v1/checkout/sessions')!.rawBody)
  t.equal(sent.get('line_items[0][price_data][currency]'), 'eur')
  await s.h.stripe.pay(sessionId)
  t.match((await successPage(s.h, s.reader, sessionId)).body, /Thank you/)
  t.equal((await order(s.h, pending.id)).status, 'paid')
})

t.test('an item already owned answers 303 to its content page and creates no order and no session', async (t) => {
  const s = await shop(t)
  await buy(s)
  const requestsBefore = s.h.stripe.requests.length
  const again = await checkout(s.h, s.reader, s.slug)
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, `/content/${s.slug}`)
  t.equal((await orders(s.h)).length, 1, 'no second order')
  t.equal(s.h.stripe.requests.length, requestsBefore, 'Stripe was not called')
})

t.test('a free item answers 303 to its content page and creates no order and no session', async (t) => {
  const s = await shop(t)
  const free = await s.h.upload(s.admin, { title: 'Free Sample', price: '0' })
  t.equal(free.statusCode, 303)
  const response = await checkout(s.h, s.reader, 'free-sample')
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, '/content/free-sample')
  t.equal((await orders(s.h)).length, 0)
  t.equal(s.h.stripe.requests.length, 0)
})

t.test('an unknown slug is answered 404 and creates nothing', async (t) => {
  const s = await shop(t)
  const response = await checkout(s.h, s.reader, 'no-such-item')
  t.equal(response.statusCode, 404)
  t.equal((await orders(s.h)).length, 0)
  t.equal(s.h.stripe.requests.length, 0)
})

t.test('checkout needs a signed-in user and a CSRF token', async (t) => {
  // Sign-in first is GUEST_CHECKOUT=0's behaviour (test/purchase/guest-checkout.test.ts has the default's).
  const s = await shop(t, { GUEST_CHECKOUT: '0' })
  const anonymous = await s.h.request(null, { method: 'POST', url: `/checkout/${s.slug}`, form: {} })
  t.equal(anonymous.statusCode, 303, 'a form POST is sent to sign in with 303')
  t.match(anonymous.headers.location, /^\/login/)
  const noToken = await s.h.request(s.reader, { method: 'POST', url: `/checkout/${s.slug}`, form: {} })
  t.equal(noToken.statusCode, 403)
  const badToken = await s.h.request(s.reader, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: 'forged' } })
  t.equal(badToken.statusCode, 403)
  t.equal((await orders(s.h)).length, 0)
  t.equal(s.h.stripe.requests.length, 0)
})

t.test('a Stripe API error shows a 502 page saying nothing was charged, and the order is failed, not pending', async (t) => {
  const s = await shop(t)
  s.h.stripe.failNext(500, { type: 'api_error', message: 'An unknown error occurred (emulated).' })
  const response = await checkout(s.h, s.reader, s.slug)
  t.equal(response.statusCode, 502)
  t.match(response.headers['content-type'], /text\/html/)
  t.match(response.body, /[Nn]othing was charged/)
  t.notMatch(response.body, /unknown error occurred \(emulated\)/, 'the provider message is not shown')
  const all = await orders(s.h)
  t.equal(all.length, 1)
  t.equal(all[0]!.status, 'failed')
  t.equal(all[0]!.provider_checkout_id, null)

  // A retry works: a fresh order, a fresh session.
  const retry = await startCheckout(s.h, s.reader, s.slug)
  t.not(retry.order.id, all[0]!.id)
  t.equal(retry.order.status, 'pending')
})

t.test('a refused request (4xx from Stripe) is also a 502 page and a failed order', async (t) => {
  const s = await shop(t)
  s.h.stripe.failNext(400, { type: 'invalid_request_error', message: 'Invalid currency (emulated).' })
  const response = await checkout(s.h, s.reader, s.slug)
  t.equal(response.statusCode, 502)
  t.match(response.body, /[Nn]othing was charged/)
  t.equal((await orders(s.h))[0]!.status, 'failed')
})

t.test('the success redirect fulfils a paid session for the buyer: thank-you page with the download link', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.match(page.body, /Thank you/)
  t.match(page.body, `href="/content/${s.slug}/download"`)
  t.equal(page.headers['cache-control'], 'private, no-store')
  t.notOk(page.headers.refresh, 'no refresh once paid')

  const paid = await order(h, pending.id)
  t.equal(paid.status, 'paid')
  t.ok(paid.paid_at)
  t.equal(paid.provider_payment_id, h.stripe.sessions.get(sessionId)!.payment_intent)
  t.same(await libraryRows(h), [{ user_id: s.readerId, content_id: pending.content_id, order_id: pending.id }])

  // The one API read on the way back: GET the session, no expand.
  const reads = h.stripe.requests.filter((r) => r.method === 'GET')
  t.equal(reads.length, 1)
  t.equal(reads[0]!.path, `/v1/checkout/sessions/${sessionId}`)
  t.same(reads[0]!.query, {})

  const download = await h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(download.statusCode, 200)
  t.equal(download.headers['content-type'], 'application/pdf')

  // Coming back again (reload) still says thank you and changes nothing.
  const before = await paymentState(h)
  const reload = await successPage(h, s.reader, sessionId)
  t.equal(reload.statusCode, 200)
  t.match(reload.body, /Thank you/)
  t.same(await paymentState(h), before)
  // On the timeline: the grant alone. A reload of a paid order is answered from our records and changes nothing.
  await successPage(h, s.reader, sessionId)
  const redirects = (await h.app.orders.events(pending.id)).filter((e) => e.kind === 'redirect').map((e) => e.detail)
  t.same(redirects, ['paid, access granted'])
})

t.test('fifty reloads of a paid order\'s thank-you page ask Stripe nothing and each still shows the download link', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId } = await buy(s)
  const before = h.stripe.requests.length
  for (let reload = 0; reload < 50; reload++) {
    const page = await successPage(h, s.reader, sessionId)
    t.equal(page.statusCode, 200)
    t.match(page.body, /Thank you/)
    t.match(page.body, `href="/content/${s.slug}/download"`)
    t.equal(page.headers['cache-control'], 'private, no-store')
    t.notOk(page.headers.refresh)
  }
  t.equal(h.stripe.requests.length, before, 'no request reached Stripe')
  // Another account still may not see it, and does not reach Stripe either.
  const mallory = await h.signIn({ email: 'mallory@example.com', sub: 'mallory' })
  const stranger = await successPage(h, mallory, sessionId)
  t.equal(stranger.statusCode, 403)
  t.match(stranger.body, /another account/)
  t.equal(h.stripe.requests.length, before)
})

t.test('the return page of a refunded, failed, expired or reviewed order shows its state from our records without asking Stripe', async (t) => {
  const s = await shop(t)
  const { h } = s
  const expected = { refunded: /This purchase was refunded/, failed: /Payment not completed/, expired: /Payment not completed/, review: /We are checking your payment/ } as const
  for (const [status, heading] of Object.entries(expected) as Array<[keyof typeof expected, RegExp]>) {
    const { sessionId, order: started } = await startCheckout(h, s.reader, s.slug)
    await h.stripe.pay(sessionId)
    // Decided behind the page's back: Stripe says paid, our records say otherwise, and ours stand.
    await h.app.db.updateTable('orders').set({ status }).where('id', '=', started.id).execute()
    const before = h.stripe.requests.length
    const page = await successPage(h, s.reader, sessionId)
    t.equal(page.statusCode, 200, status)
    t.match(page.body, heading, `${status}: the page of its state`)
    t.notMatch(page.body, /Thank you/)
    t.notOk(page.headers.refresh)
    t.equal(h.stripe.requests.length, before, `${status}: Stripe is not asked`)
    t.equal((await order(h, started.id)).status, status, 'the order is left as it was')
  }
  t.same(await libraryRows(h), [])
})

t.test('the return page of a pending order still asks Stripe on every reload until the payment settles', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId } = await paidAtStripe(s, 'bank_transfer')
  const reads = (): number => h.stripe.requests.filter((r) => r.method === 'GET' && r.path === `/v1/checkout/sessions/${sessionId}`).length
  for (let reload = 1; reload <= 3; reload++) {
    t.match((await successPage(h, s.reader, sessionId)).body, /Payment processing/)
    t.equal(reads(), reload, `reload ${reload} asked Stripe`)
  }
  await h.stripe.settle(sessionId, 'succeeded')
  t.match((await successPage(h, s.reader, sessionId)).body, /Thank you/, 'the reload after settling grants')
  t.equal(reads(), 4)
  await successPage(h, s.reader, sessionId)
  t.equal(reads(), 4, 'and from then on Stripe is not asked')
})

t.test('the library shows the purchase with its date, price and download link', async (t) => {
  const s = await shop(t)
  const empty = await s.h.request(s.reader, { url: '/library' })
  t.match(empty.body, /No purchases yet/)
  await buy(s)
  const library = await s.h.request(s.reader, { url: '/library' })
  t.equal(library.statusCode, 200)
  t.match(library.body, 'A Field Guide to Testing')
  t.match(library.body, '$5.00')
  t.match(library.body, /<time datetime="\d{4}-\d\d-\d\dT/)
  t.match(library.body, `href="/content/${s.slug}/download"`)
})

t.test("another user's session on the success redirect is answered 403 and fulfils nothing", async (t) => {
  const s = await shop(t)
  const { sessionId } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId)
  const mallory = await s.h.signIn({ email: 'mallory@example.com', sub: 'mallory' })
  const before = await paymentState(s.h)
  const page = await successPage(s.h, mallory, sessionId)
  t.equal(page.statusCode, 403)
  t.match(page.body, /another account/)
  t.same(await paymentState(s.h), before, 'nothing changed')
  t.same(await libraryRows(s.h), [])
  const download = await s.h.request(mallory, { url: `/content/${s.slug}/download` })
  t.equal(download.statusCode, 403)
})

t.test('the success redirect needs a signed-in user and a known session', async (t) => {
  const s = await shop(t)
  const { sessionId } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId)
  const anonymous = await successPage(s.h, null, sessionId)
  t.equal(anonymous.statusCode, 302)
  t.match(anonymous.headers.location, /^\/login\?next=/)
  const unknown = await successPage(s.h, s.reader, 'cs_test_does_not_exist')
  t.equal(unknown.statusCode, 404)
  const missing = await s.h.request(s.reader, { url: '/checkout/success' })
  t.equal(missing.statusCode, 400)
  // The id is a path segment at Stripe: it cannot reach another endpoint.
  const traversal = await successPage(s.h, s.reader, '../../v1/customers')
  t.equal(traversal.statusCode, 404)
  t.ok(s.h.stripe.requests.filter((r) => r.method === 'GET').every((r) => /^\/v1\/checkout\/sessions\/[^/]+$/.test(r.path)), 'only session reads')
  t.same(await libraryRows(s.h), [])
})

t.test('an unpaid completed session (bank transfer) shows a refreshing processing page until the webhook settles it', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s, 'bank_transfer')

  const processing = await successPage(h, s.reader, sessionId)
  t.equal(processing.statusCode, 200)
  t.match(processing.body, /Payment processing/)
  t.ok(processing.headers.refresh, 'a refresh header')
  t.equal((await order(h, pending.id)).status, 'pending')
  t.same(await libraryRows(h), [])

  // The completed event (payment_status unpaid) grants nothing either.
  const completed = await h.webhook(lastEvent(h, 'checkout.session.completed'))
  t.equal(completed.statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'pending')
  t.same(await libraryRows(h), [])
  const stillProcessing = await successPage(h, s.reader, sessionId)
  t.match(stillProcessing.body, /Payment processing/)

  await h.stripe.settle(sessionId, 'succeeded')
  const settled = await h.webhook(lastEvent(h, 'checkout.session.async_payment_succeeded'))
  t.equal(settled.statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'paid')

  const thanks = await successPage(h, s.reader, sessionId)
  t.equal(thanks.statusCode, 200)
  t.match(thanks.body, /Thank you/)
  t.notOk(thanks.headers.refresh)
  t.equal((await libraryRows(h)).length, 1)
})

t.test('a failed bank transfer ends on a page saying the payment did not go through', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s, 'bank_transfer')
  await h.stripe.settle(sessionId, 'failed')
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.async_payment_failed'))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'failed')
  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.match(page.body, /Payment not completed/)
  t.notOk(page.headers.refresh)
  t.same(await libraryRows(h), [])
})

t.test('Stripe failing on the success redirect answers 502 without claiming nothing was charged, and a reload fulfils', async (t) => {
  const s = await shop(t)
  const { sessionId, order: pending } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId)
  s.h.stripe.failNext(500, { type: 'api_error', message: 'An unknown error occurred (emulated).' })
  const page = await successPage(s.h, s.reader, sessionId)
  t.equal(page.statusCode, 502)
  t.notMatch(page.body, /[Nn]othing was charged/, 'the buyer has just paid: do not say nothing was charged')
  t.match(page.body, /library/)
  t.equal((await order(s.h, pending.id)).status, 'pending')
  const reload = await successPage(s.h, s.reader, sessionId)
  t.match(reload.body, /Thank you/)
  t.equal((await order(s.h, pending.id)).status, 'paid')
})

t.test('Stripe unreachable at checkout shows the 502 page and fails the order', async (t) => {
  const s = await shop(t, { STRIPE_API_URL: 'http://127.0.0.1:9' })
  const response = await checkout(s.h, s.reader, s.slug)
  t.equal(response.statusCode, 502)
  t.match(response.body, /[Nn]othing was charged/)
  const all = await orders(s.h)
  t.equal(all.length, 1)
  t.equal(all[0]!.status, 'failed')
})

t.test('the cancel page says nothing was charged', async (t) => {
  const s = await shop(t)
  const page = await s.h.request(null, { url: `/checkout/cancel?slug=${s.slug}` })
  t.equal(page.statusCode, 200)
  t.match(page.body, /Nothing was charged/)
  t.match(page.body, `href="/content/${s.slug}"`)
})

t.test('the success URL of a checkout never completed says the payment did not go through, not processing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId } = await startCheckout(h, s.reader, s.slug)
  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.equal(page.headers.refresh, undefined, 'no endless refresh')
  t.match(page.body, /Payment not completed/)
  t.same(await libraryRows(h), [])
})
