// backends: sqlite, postgres-s3
// The cart (DESIGN.md, "Bundles and cart"): POST /cart/add and /cart/remove (slug), GET /cart,
// POST /cart/checkout -> one Checkout Session with a line item per entry (client_reference_id =
// the order id), or one Mollie payment; every line granted exactly once by redirect or webhook.
import t from 'tap'
import { CookieJar, csrfFrom, type Harness, type TestContext } from '../helpers/build.js'
import { edit } from '../helpers/items.js'
import { laterWebhook, mollieShop, webhook } from '../helpers/mollie-shop.js'
import { lastEvent, libraryRows, order, sessionEvent, shop, type Shop, successPage } from '../helpers/purchase.js'

interface CartShop extends Shop { second: string }

async function cartShop (t: TestContext, env: Record<string, string> = {}): Promise<CartShop> {
  const s = await shop(t, env)
  const uploaded = await s.h.upload(s.admin, { title: 'Second Guide', price: '7.00' })
  return { ...s, second: (uploaded.headers.location as string).replace('/content/', '') }
}

/** The CSRF token of a page with the cart's forms (an item's page, the cart's): for signed-out visitors too. */
async function token (h: Harness, jar: CookieJar, url = '/cart'): Promise<string> {
  return csrfFrom((await h.request(jar, { url })).body, url)
}

async function add (h: Harness, jar: CookieJar, slug: string, extra: Record<string, string> = {}) {
  return await h.request(jar, { method: 'POST', url: '/cart/add', form: { _csrf: await token(h, jar, `/content/${slug}`), slug, ...extra } })
}

async function checkoutCart (h: Harness, jar: CookieJar, extra: Record<string, string> = {}) {
  return await h.request(jar, { method: 'POST', url: '/cart/checkout', form: { _csrf: await token(h, jar), ...extra } })
}

/** A two-item cart checked out by the reader: its session id and order. */
async function startCart (s: CartShop) {
  t.equal((await add(s.h, s.reader, s.slug)).statusCode, 303)
  t.equal((await add(s.h, s.reader, s.second)).statusCode, 303)
  const response = await checkoutCart(s.h, s.reader)
  const location = String(response.headers.location)
  if (response.statusCode !== 303 || !location.startsWith(`${s.h.stripe.url}/pay/`)) throw new Error(`cart checkout answered ${response.statusCode}: ${response.body.slice(0, 300)}`)
  const sessionId = location.slice(`${s.h.stripe.url}/pay/`.length)
  const pending = await s.h.app.db.selectFrom('orders').selectAll().where('provider_checkout_id', '=', sessionId).executeTakeFirstOrThrow()
  return { sessionId, order: pending }
}

const lines = async (h: Harness, orderId: string) => await h.app.db.selectFrom('order_lines').select(['line', 'content_id', 'amount_cents', 'discount_cents']).where('order_id', '=', orderId).orderBy('line').execute()
const contentIds = async (h: Harness) => (await h.app.db.selectFrom('content').select(['id', 'slug']).orderBy('id').execute())

t.test('a two-item cart: the page, one session with two line items, the redirect grants both, then the webhook is a no-op', async (t) => {
  const s = await cartShop(t)
  const empty = await s.h.request(s.reader, { url: '/cart' })
  t.equal(empty.statusCode, 200)
  t.match(empty.body, 'Your cart is empty')
  const { sessionId, order: pending } = await startCart(s)
  const page = await s.h.request(s.reader, { url: '/cart' })
  t.match(page.body, 'Second Guide')
  t.match(page.body, '$12.00', 'the total of both')
  t.match(page.body, 'Cart (2', 'the header counts the cart')
  t.match(page.body, 'action="/cart/remove"')
  t.equal(pending.amount_cents, 1200, 'the order is the sum of its lines')
  t.equal(pending.content_id, (await contentIds(s.h))[0]!.id, 'the order\'s item is line 1\'s')
  const ids = (await contentIds(s.h)).map((c) => c.id)
  t.same((await lines(s.h, pending.id)).map((l) => [l.line, l.content_id, l.amount_cents]), [[1, ids[0], 500], [2, ids[1], 700]])
  const created = s.h.stripe.requests.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && new URLSearchParams(r.rawBody).get('client_reference_id') === pending.id)
  const params = new URLSearchParams(created!.rawBody)
  t.equal(params.get('line_items[0][price_data][unit_amount]'), '500')
  t.equal(params.get('line_items[1][price_data][unit_amount]'), '700')
  t.equal(params.get('line_items[1][price_data][product_data][name]'), 'Second Guide')

  const again = await checkoutCart(s.h, s.reader)
  t.equal(again.headers.location, `${s.h.stripe.url}/pay/${sessionId}`, 'a second Checkout click goes to the same session')

  await s.h.stripe.pay(sessionId)
  const thanks = await successPage(s.h, s.reader, sessionId)
  t.equal(thanks.statusCode, 200)
  t.match(thanks.body, 'Thank you')
  t.equal((await order(s.h, pending.id)).status, 'paid')
  t.same((await libraryRows(s.h)).map((r) => [r.content_id, r.order_id]).sort(), ids.map((id) => [id, pending.id]).sort(), 'both items in the library, by this order')
  const answer = await s.h.webhook(lastEvent(s.h, 'checkout.session.completed'))
  t.equal(answer.json().outcome, 'already_paid')
  t.equal((await libraryRows(s.h)).length, 2, 'nothing granted twice')
  const after = await s.h.request(s.reader, { url: '/cart' })
  t.match(after.body, 'Your cart is empty', 'the paid cart is emptied')

  const owned = await add(s.h, s.reader, s.slug)
  t.equal(owned.statusCode, 303)
  const flash = await s.h.request(s.reader, { url: '/cart' })
  t.match(flash.body, 'You already have', 'an item owned is not added')
  t.match(flash.body, 'Your cart is empty')
})

t.test('webhook first, then the redirect; a duplicate event changes nothing', async (t) => {
  const s = await cartShop(t)
  const { sessionId, order: pending } = await startCart(s)
  await s.h.stripe.pay(sessionId)
  const event = lastEvent(s.h, 'checkout.session.completed')
  t.equal((await s.h.webhook(event)).json().outcome, 'granted')
  t.equal((await s.h.webhook(event)).statusCode, 200, 'the same event again is acknowledged')
  t.equal((await libraryRows(s.h)).length, 2)
  const thanks = await successPage(s.h, s.reader, sessionId)
  t.match(thanks.body, 'Thank you')
  t.equal((await libraryRows(s.h)).length, 2)
  t.equal((await order(s.h, pending.id)).status, 'paid')
})

t.test('a total that differs from the cart: review, nothing granted', async (t) => {
  const s = await cartShop(t)
  const { sessionId, order: pending } = await startCart(s)
  await s.h.stripe.pay(sessionId)
  const forged = sessionEvent(s.h, 'checkout.session.completed', sessionId, { amount_total: 500, amount_subtotal: 500 })
  t.equal((await s.h.webhook(forged)).json().outcome, 'mismatch')
  t.equal((await order(s.h, pending.id)).status, 'review')
  t.same(await libraryRows(s.h), [])
})

t.test('refusals: unknown and unpublished slugs, a bad pay-what-you-want amount, an empty checkout', async (t) => {
  const s = await cartShop(t)
  const unknown = await s.h.request(s.reader, { method: 'POST', url: '/cart/add', form: { _csrf: await s.h.csrf(s.reader), slug: 'no-such-item' } })
  t.equal(unknown.statusCode, 404)
  t.match(unknown.body, 'Nothing was added to your cart')
  t.equal((await s.h.request(s.admin, { method: 'POST', url: `/admin/content/${s.second}/unpublish`, form: { _csrf: await s.h.csrf(s.admin) } })).statusCode < 400, true)
  t.equal((await s.h.request(s.reader, { method: 'POST', url: '/cart/add', form: { _csrf: await s.h.csrf(s.reader), slug: s.second } })).statusCode, 404, 'an unpublished item is not for sale')
  const empty = await checkoutCart(s.h, s.reader)
  t.equal(empty.statusCode, 400)
  t.match(empty.body, 'Your cart is empty')
  const pwyw = await s.h.upload(s.admin, { title: 'Tip Jar', price: '3.00' })
  const tipSlug = String(pwyw.headers.location).replace('/content/', '')
  t.equal((await edit(s.h, s.admin, tipSlug, { title: 'Tip Jar', price: '3.00', extra: { pay_what_you_want: '1', min_price: '2.00' } })).statusCode, 303)
  const low = await add(s.h, s.reader, tipSlug, { amount: '1.00' })
  t.equal(low.statusCode, 400, 'below the minimum')
  t.equal((await add(s.h, s.reader, tipSlug, { amount: '4.50' })).statusCode, 303)
  t.equal((await add(s.h, s.reader, s.slug)).statusCode, 303)
  const response = await checkoutCart(s.h, s.reader)
  t.equal(response.statusCode, 303)
  const created = s.h.stripe.requests.findLast((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions')
  const params = new URLSearchParams(created!.rawBody)
  t.equal(params.get('line_items[0][price_data][unit_amount]'), '450', 'the amount chosen')
  t.equal(params.get('allow_promotion_codes'), null, 'a cart with a pay-what-you-want line offers no promotion codes')
})

t.test('a guest\'s cart: bought as a guest, granted to the address Stripe collected, exactly once', async (t) => {
  const s = await cartShop(t)
  const guest = new CookieJar()
  t.equal((await add(s.h, guest, s.slug)).statusCode, 303)
  t.equal((await add(s.h, guest, s.second)).statusCode, 303)
  const response = await checkoutCart(s.h, guest)
  t.equal(response.statusCode, 303)
  const sessionId = String(response.headers.location).slice(`${s.h.stripe.url}/pay/`.length)
  await s.h.stripe.pay(sessionId)
  t.match((await successPage(s.h, guest, sessionId)).body, 'Thank you')
  t.equal((await s.h.webhook(lastEvent(s.h, 'checkout.session.completed'))).json().outcome, 'already_paid')
  const rows = await libraryRows(s.h)
  t.equal(rows.length, 2)
  t.equal(new Set(rows.map((r) => r.user_id)).size, 1)
})

t.test('Mollie: one payment for the cart\'s total, its webhook grants every line once', async (t) => {
  const s = await mollieShop(t)
  const uploaded = await s.h.upload(s.admin, { title: 'Zweites Heft', price: '7.00' })
  const second = String(uploaded.headers.location).replace('/content/', '')
  await add(s.h, s.reader, s.slug)
  await add(s.h, s.reader, second)
  const response = await checkoutCart(s.h, s.reader)
  t.equal(response.statusCode, 303)
  const [payment] = [...s.mollie.payments.values()]
  t.same(payment!.amount, { currency: 'EUR', value: '12.00' })
  t.match(payment!.description, 'Zweites Heft')
  s.mollie.setStatus(payment!.id, 'paid')
  t.equal((await webhook(s.h, payment!.id)).statusCode, 200)
  t.equal((await laterWebhook(s, payment!.id)).statusCode, 200, 'a later notification of the same state is a duplicate')
  t.equal((await libraryRows(s.h)).length, 2)
})
