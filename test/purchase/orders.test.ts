// backends: sqlite, postgres-s3
import t from 'tap'
import { CookieJar, providerCallback } from '../helpers/build.js'
import { buy, checkout, libraryRows, order, orders, session, shop, startCheckout, successPage } from '../helpers/purchase.js'

const sessionCreates = (s: Awaited<ReturnType<typeof shop>>): number =>
  s.h.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions').length

t.test('a second Buy while the checkout is open goes to the same Checkout Session: one order, one session', async (t) => {
  const s = await shop(t)
  const first = await startCheckout(s.h, s.reader, s.slug)
  const again = await checkout(s.h, s.reader, s.slug)
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, `${s.h.stripe.url}/pay/${first.sessionId}`, 'the same Checkout page')
  t.equal((await orders(s.h)).length, 1, 'one order')
  t.equal(sessionCreates(s), 1, 'one session created at Stripe')
})

t.test('a double click (two Buys at once) makes one order and one session', async (t) => {
  const s = await shop(t)
  const token = await s.h.csrf(s.reader)
  const post = async () => await s.h.request(s.reader, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: token } })
  const answers = await Promise.all([post(), post(), post()])
  t.same(answers.map((a) => a.statusCode), [303, 303, 303])
  t.equal(new Set(answers.map((a) => a.headers.location)).size, 1, 'all go to one Checkout page')
  t.equal((await orders(s.h)).length, 1)
  t.equal(sessionCreates(s), 1)
})

t.test('a Buy after the open checkout expired at Stripe starts a fresh one and ends the old order', async (t) => {
  const s = await shop(t)
  const first = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.expire(first.sessionId) // its webhook is not delivered (no URL in tests)
  const second = await startCheckout(s.h, s.reader, s.slug)
  t.not(second.sessionId, first.sessionId)
  t.equal((await order(s.h, first.order.id)).status, 'expired')
  t.equal((await order(s.h, second.order.id)).status, 'pending')
})

t.test('a Buy after a bank transfer was sent (checkout complete, unpaid) goes to its progress page, not a second payment', async (t) => {
  const s = await shop(t)
  const first = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(first.sessionId, 'bank_transfer')
  const again = await checkout(s.h, s.reader, s.slug)
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, `${s.h.config.publicUrl}/checkout/success?session_id=${first.sessionId}`)
  t.equal(sessionCreates(s), 1)
})

t.test('two buyers never see or download each other\'s purchases', async (t) => {
  const s = await shop(t)
  const second = await s.h.upload(s.admin, { title: 'The Second Book', price: '7.00' })
  const otherSlug = (second.headers.location as string).replace('/content/', '')
  const ann = s.reader
  const bob = await s.h.signIn({ email: 'bob@example.com', sub: 'bob' })

  await buy(s) // Ann buys the first item
  const bobs = await startCheckout(s.h, bob, otherSlug)
  await s.h.stripe.pay(bobs.sessionId)
  t.equal((await successPage(s.h, bob, bobs.sessionId)).statusCode, 200)

  const annLibrary = (await s.h.request(ann, { url: '/library' })).body
  const bobLibrary = (await s.h.request(bob, { url: '/library' })).body
  t.match(annLibrary, 'A Field Guide to Testing')
  t.notMatch(annLibrary, 'The Second Book', 'Ann\'s library does not list Bob\'s item')
  t.match(bobLibrary, 'The Second Book')
  t.notMatch(bobLibrary, 'A Field Guide to Testing', 'Bob\'s library does not list Ann\'s item')

  t.equal((await s.h.request(ann, { url: `/content/${s.slug}/download` })).statusCode, 200)
  t.equal((await s.h.request(ann, { url: `/content/${otherSlug}/download` })).statusCode, 403, 'Ann cannot download Bob\'s')
  t.equal((await s.h.request(bob, { url: `/content/${otherSlug}/download` })).statusCode, 200)
  t.equal((await s.h.request(bob, { url: `/content/${s.slug}/download` })).statusCode, 403, 'Bob cannot download Ann\'s')
  t.notMatch((await s.h.request(ann, { url: `/content/${otherSlug}` })).body, `/content/${otherSlug}/download`, 'no download link on Bob\'s item for Ann')
  t.match((await s.h.request(bob, { url: `/content/${s.slug}` })).body, `action="/checkout/${s.slug}"`, 'Bob is offered Ann\'s item to buy')
})

t.test('two paid orders for one item: both fulfil, refunding one keeps access, refunding both revokes it', async (t) => {
  const s = await shop(t)
  const { h } = s
  // Two checkouts that both got paid (say, two tabs before the reuse existed, or a retried order).
  const content = (await h.app.catalog.find(s.slug))!
  const user = (await h.app.db.selectFrom('users').selectAll().where('id', '=', s.readerId).executeTakeFirstOrThrow())
  const pay = async (n: number) => {
    const created = await h.app.orders.create(user.id, content)
    await h.app.orders.attachCheckout(created.id, `cs_test_twice_${n}`)
    return { created, result: await h.app.orders.fulfil({ id: `cs_test_twice_${n}`, orderId: created.id, paymentStatus: 'paid', amountTotal: content.price_cents, currency: content.currency, paymentIntent: `pi_twice_${n}` }) }
  }
  const first = await pay(1)
  const second = await pay(2)
  t.equal(first.result.outcome, 'granted')
  t.equal(second.result.outcome, 'granted', 'the second paid order does not fail on the library row')
  t.equal((await libraryRows(h)).length, 1, 'one library row')

  const refund = async (paymentIntent: string) => await h.webhook(h.stripe.buildEvent('charge.refunded', { id: `ch_${paymentIntent}`, object: 'charge', payment_intent: paymentIntent, refunded: true, amount_refunded: content.price_cents }))
  t.equal((await refund('pi_twice_1')).statusCode, 200)
  t.equal((await order(h, first.created.id)).status, 'refunded')
  t.same((await libraryRows(h)).map((row) => row.order_id), [second.created.id], 'access now rests on the other paid order')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200, 'still downloads')

  t.equal((await refund('pi_twice_2')).statusCode, 200)
  t.same(await libraryRows(h), [], 'both refunded: no access')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 403)
})

t.test('the success page looks the session up in our records first: a stranger\'s or made-up id never reaches Stripe', async (t) => {
  const s = await shop(t)
  const { sessionId } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId)
  const mallory = await s.h.signIn({ email: 'mallory@example.com', sub: 'mallory' })
  const reads = (): number => s.h.stripe.requests.filter((r) => r.method === 'GET').length
  const before = reads()
  t.equal((await successPage(s.h, mallory, sessionId)).statusCode, 403, 'another user\'s session')
  t.equal((await successPage(s.h, s.reader, 'cs_test_made_up')).statusCode, 404, 'an unknown id')
  t.equal((await successPage(s.h, s.reader, 'not-a-session')).statusCode, 404, 'not a session id at all')
  t.equal((await successPage(s.h, s.reader, `${sessionId}/../x`)).statusCode, 404)
  t.equal(reads(), before, 'Stripe was not asked')
  t.equal((await successPage(s.h, s.reader, sessionId)).statusCode, 200, 'the buyer\'s own id works')
  t.equal(reads(), before + 1)
  t.equal(session(s.h, sessionId).status, 'complete')
})

t.test('the success page without session_id says what happened in words a person understands', async (t) => {
  const s = await shop(t)
  const page = await s.h.request(s.reader, { url: '/checkout/success' })
  t.equal(page.statusCode, 400)
  t.match(page.body, /missing its checkout reference/)
  t.notMatch(page.body, /querystring|required property/)
  const empty = await s.h.request(s.reader, { url: '/checkout/success?session_id=' })
  t.equal(empty.statusCode, 400)
  t.match(empty.body, /missing its checkout reference/)
})

t.test('the open-checkout rule is per user: two users get two checkouts', async (t) => {
  const s = await shop(t)
  const admin = await startCheckout(s.h, s.admin, s.slug)
  const reader = await startCheckout(s.h, s.reader, s.slug)
  t.not(admin.sessionId, reader.sessionId, 'two users, two checkouts')
  t.equal((await orders(s.h)).length, 2)
})

t.test('free items a reader downloaded are in their library, and only theirs', async (t) => {
  const s = await shop(t)
  const uploaded = await s.h.upload(s.admin, { title: 'A Free Pamphlet', price: '0' })
  const freeSlug = (uploaded.headers.location as string).replace('/content/', '')
  t.match((await s.h.request(s.reader, { url: '/library' })).body, 'No purchases yet', 'nothing before the download')
  t.equal((await s.h.request(s.reader, { url: `/content/${freeSlug}/download` })).statusCode, 200)
  t.equal((await s.h.request(s.reader, { url: `/content/${freeSlug}/download` })).statusCode, 200, 'downloading twice is fine')
  const library = (await s.h.request(s.reader, { url: '/library' })).body
  t.match(library, 'A Free Pamphlet')
  t.match(library, `/content/${freeSlug}/download`)
  t.match(library, /Free · added/)
  const bob = await s.h.signIn({ email: 'bob@example.com', sub: 'bob' })
  t.notMatch((await s.h.request(bob, { url: '/library' })).body, 'A Free Pamphlet', 'not in another reader\'s library')
})

t.test('a signed-out Buy goes through sign-in and back to the item, and the CSP lets the browser follow', async (t) => {
  // With GUEST_CHECKOUT=0: test/purchase/guest-checkout.test.ts has the default's guest Buy.
  const s = await shop(t, { GUEST_CHECKOUT: '0' })
  const { h } = s
  const page = await h.request(null, { url: `/content/${s.slug}` })
  t.match(page.body, `action="/checkout/${s.slug}"`, 'the signed-out visitor sees the Buy form')
  const csp = String(page.headers['content-security-policy'])
  const formAction = /form-action ([^;]+)/.exec(csp)?.[1]?.split(' ') ?? []
  t.ok(formAction.includes(new URL(h.idp.url).origin), 'form-action allows the identity provider the POST is redirected to')
  t.ok(formAction.includes(new URL(h.stripe.url).origin), 'and Stripe')
  t.equal(page.headers['referrer-policy'], 'same-origin', 'the way back survives: same-origin referrers are sent')

  const jar = new CookieJar()
  const buy = await h.request(jar, { method: 'POST', url: `/checkout/${s.slug}`, headers: { referer: `${h.config.publicUrl}/content/${s.slug}` }, form: { _csrf: '' } })
  t.equal(buy.statusCode, 303)
  t.equal(buy.headers.location, `/login?next=${encodeURIComponent(`/content/${s.slug}`)}`)
  const login = await h.request(jar, { url: buy.headers.location as string })
  t.equal(new URL(login.headers.location as string).origin, new URL(h.idp.url).origin, 'on to the provider')
  const callback = await providerCallback(login, { email: 'new-reader@example.com' })
  const back = await h.request(jar, { url: callback.pathname + callback.search })
  t.equal(back.headers.location, `/content/${s.slug}`, 'back on the item page, signed in')
  const started = await startCheckout(h, jar, s.slug)
  t.equal(started.order.status, 'pending', 'and Buy now starts the checkout')
})
