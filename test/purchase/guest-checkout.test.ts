// backends: sqlite, postgres-s3
import t from 'tap'
import { CookieJar, csrfFrom, type Harness, setCookies } from '../helpers/build.js'
import { lastEvent, libraryRows, order, orders, shop, type Shop, successPage } from '../helpers/purchase.js'
import { smtpServer } from '../helpers/smtp.js'

/** A signed-out browser opens the item and clicks Buy: the 303 and the order it started. */
async function guestBuy (h: Harness, jar: CookieJar, slug: string): Promise<{ location: string, sessionId: string, orderId: string }> {
  const page = await h.request(jar, { url: `/content/${slug}` })
  const buy = await h.request(jar, { method: 'POST', url: `/checkout/${slug}`, form: { _csrf: csrfFrom(page.body, `/content/${slug}`) } })
  const location = String(buy.headers.location)
  if (buy.statusCode !== 303 || !location.startsWith(`${h.stripe.url}/pay/`)) throw new Error(`guest Buy answered ${buy.statusCode} ${location}: ${buy.body.slice(0, 300)}`)
  const sessionId = location.slice(`${h.stripe.url}/pay/`.length)
  const row = await h.app.db.selectFrom('orders').select('id').where('provider_checkout_id', '=', sessionId).executeTakeFirstOrThrow()
  return { location, sessionId, orderId: row.id }
}

/** Everything a guest bought as `email`, paid at Stripe and seen through the success redirect. */
async function guestPurchase (s: Shop, email: string): Promise<{ jar: CookieJar, sessionId: string, orderId: string }> {
  const jar = new CookieJar()
  const { sessionId, orderId } = await guestBuy(s.h, jar, s.slug)
  await s.h.stripe.pay(sessionId, 'card', { email })
  const page = await successPage(s.h, jar, sessionId)
  if (page.statusCode !== 200) throw new Error(`success page answered ${page.statusCode}`)
  return { jar, sessionId, orderId }
}

const guestOf = async (h: Harness, email: string) => await h.app.db.selectFrom('users').selectAll()
  .where('provider', '=', 'guest').where('subject', '=', email).executeTakeFirst()

t.test('the content page gives a signed-out visitor a working Buy form (and only that page starts a cookie)', async (t) => {
  const { h, slug } = await shop(t)
  const catalogue = await h.request(null, { url: '/' })
  t.same(setCookies(catalogue), [], 'the catalogue stays cookie-free')
  const page = await h.request(null, { url: `/content/${slug}` })
  t.ok(csrfFrom(page.body, 'the content page'), 'the Buy form carries a CSRF token')
  t.match(page.body, 'the PDF and a receipt with its download link come by email')
  t.match(page.body, 'href="/login', 'the sign-in link stays in the header')
  t.ok(setCookies(page).some((line) => line.startsWith('session=')), 'the token lives in a session cookie')
})

t.test('a signed-out Buy goes straight to Stripe Checkout without customer_email; a double click reuses the session', async (t) => {
  const { h, slug } = await shop(t)
  const jar = new CookieJar()
  const first = await guestBuy(h, jar, slug)
  const create = h.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions')
  t.equal(create.length, 1)
  t.notOk('customer_email' in (create[0]!.body as Record<string, unknown>), 'Stripe collects the email')
  const guest = await h.app.db.selectFrom('users').innerJoin('orders', 'orders.user_id', 'users.id')
    .select(['users.provider', 'users.email']).where('orders.id', '=', first.orderId).executeTakeFirstOrThrow()
  t.same(guest, { provider: 'guest-session', email: null }, 'the pending order is this browser\'s')

  const again = await guestBuy(h, jar, slug)
  t.equal(again.location, first.location, 'the same browser clicking twice gets the same Checkout Session')
  t.equal((await orders(h)).length, 1)

  const other = await guestBuy(h, new CookieJar(), slug)
  t.not(other.location, first.location, 'another browser has a checkout of its own')
})

t.test('paid as a guest: the thank-you page in that browser shows the signed link; another browser with the session id does not', async (t) => {
  const s = await shop(t)
  const { h } = s
  const jar = new CookieJar()
  const { sessionId, orderId } = await guestBuy(h, jar, s.slug)
  await h.stripe.pay(sessionId, 'card', { email: 'Guest.Buyer@Example.com' })
  const page = await successPage(h, jar, sessionId)
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Thank you')
  const link = /href="(http[^"]+\/d\/[^"]+)"/.exec(page.body)?.[1]
  t.ok(link, 'the download is a signed link')
  const token = link!.slice(link!.lastIndexOf('/d/') + 3)
  t.match(h.app.links.verify(token), { ok: true, orderId })
  t.match(page.body, 'a receipt with this link is on its way to <strong>guest.buyer@example.com</strong>'.replace('a receipt', 'A receipt'))
  t.notMatch(page.body, 'href="/library"', 'a guest has no library to go to')

  const paid = await order(h, orderId)
  t.equal(paid.status, 'paid')
  const owner = await guestOf(h, 'guest.buyer@example.com')
  t.match(owner, { id: paid.user_id, email: 'guest.buyer@example.com', email_verified: 0, is_admin: 0 }, 'the order belongs to the address Stripe collected')
  t.same(await libraryRows(h), [{ user_id: paid.user_id, content_id: paid.content_id, order_id: orderId }])

  const stranger = await successPage(h, new CookieJar(), sessionId)
  t.equal(stranger.statusCode, 403, 'the session id alone, in another browser, shows nothing')
  t.notMatch(stranger.body, '/d/')
  t.equal((await successPage(h, s.reader, sessionId)).statusCode, 403, 'nor to a signed-in reader')

  const twice = await h.request(jar, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrfFrom((await h.request(jar, { url: `/content/${s.slug}` })).body, 'content') } })
  t.equal(twice.statusCode, 303)
  t.equal(twice.headers.location, `/checkout/success?session_id=${sessionId}`, 'Buy again in the same browser shows the purchase rather than charging twice')
})

t.test('a guest purchase completed by the webhook alone belongs to the collected email', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, orderId } = await guestBuy(h, new CookieJar(), s.slug)
  await h.stripe.pay(sessionId, 'card', { email: 'hook@example.com' })
  const response = await h.webhook(lastEvent(h, 'checkout.session.completed'))
  t.equal(response.statusCode, 200)
  const paid = await order(h, orderId)
  t.equal(paid.status, 'paid')
  t.equal(paid.user_id, (await guestOf(h, 'hook@example.com'))?.id)
  t.equal((await libraryRows(h)).length, 1)
})

t.test('signing in later with the same verified email puts the guest purchases into the library, once', async (t) => {
  const s = await shop(t)
  const { h } = s
  const first = await guestPurchase(s, 'buyer@example.com')
  // A second guest purchase of the same item by the same address (another browser): two orders, one item.
  const second = await guestPurchase(s, 'BUYER@example.com')
  const guest = (await guestOf(h, 'buyer@example.com'))!
  await h.app.db.insertInto('downloads').values({ user_id: guest.id, content_id: (await order(h, first.orderId)).content_id }).execute()

  const jar = await h.signIn({ email: 'Buyer@Example.com', sub: 'buyer', verified: true })
  const me = await h.app.db.selectFrom('users').select('id').where('subject', '=', 'buyer').executeTakeFirstOrThrow()
  const library = await h.request(jar, { url: '/library' })
  t.match(library.body, 'A Field Guide to Testing')
  t.equal(library.body.split('A Field Guide to Testing').length - 1, 1, 'listed once')
  t.same((await libraryRows(h)).map((row) => [row.user_id, row.order_id]), [[me.id, first.orderId]], 'one library row, the first purchase\'s')
  t.same((await orders(h)).map((o) => o.user_id), [me.id, me.id], 'both orders are the account\'s')
  const downloads = await h.app.db.selectFrom('downloads').select('user_id').execute()
  t.same(downloads, [{ user_id: me.id }], 'and the downloads')
  t.equal((await h.request(jar, { url: `/content/${s.slug}/download` })).statusCode, 200, 'the account downloads it')
  t.equal((await successPage(h, jar, second.sessionId)).statusCode, 200, 'and sees its thank-you pages')

  // Signing in again claims nothing more, and changes nothing.
  const before = { library: await libraryRows(h), orders: await orders(h) }
  await h.signIn({ email: 'buyer@example.com', sub: 'buyer', verified: true })
  t.same({ library: await libraryRows(h), orders: await orders(h) }, before)
})

t.test('a purchase the account already has stays once in the library, its own row first', async (t) => {
  const s = await shop(t)
  const { h } = s
  // The reader buys signed in, then (signed out elsewhere) as a guest with the same address.
  const jar = s.reader
  const page = await h.request(jar, { url: `/content/${s.slug}` })
  const buy = await h.request(jar, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: csrfFrom(page.body, 'content') } })
  const sessionId = String(buy.headers.location).split('/pay/')[1]!
  await h.stripe.pay(sessionId)
  t.equal((await successPage(h, jar, sessionId)).statusCode, 200)
  const own = (await libraryRows(h))[0]!
  await guestPurchase(s, 'reader@example.com')
  await h.signIn({ email: 'reader@example.com', sub: 'reader' })
  t.same(await libraryRows(h), [own], 'the account\'s own library row is kept')
  t.same((await orders(h)).map((o) => o.user_id), [s.readerId, s.readerId])
})

t.test('an unverified email never claims guest purchases', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { orderId } = await guestPurchase(s, 'claimer@example.com')
  const guest = (await guestOf(h, 'claimer@example.com'))!
  const jar = await h.signIn({ email: 'claimer@example.com', sub: 'claimer', verified: false })
  t.notMatch((await h.request(jar, { url: '/library' })).body, 'A Field Guide to Testing')
  t.equal((await order(h, orderId)).user_id, guest.id, 'the order stays the address\'s')
  t.equal((await libraryRows(h))[0]?.user_id, guest.id)
})

t.test('guest purchases are claimed by ASCII case alone: kim@\'s is not \\u212Aim@\'s (Kelvin sign), Kim@Example.com\'s is', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { orderId } = await guestPurchase(s, 'kim@example.com')
  const guest = (await guestOf(h, 'kim@example.com'))!
  t.ok(guest, 'the purchase belongs to kim@example.com')

  const lookAlike = await h.signIn({ email: '\u212Aim@example.com', sub: 'kelvin', verified: true })
  t.notMatch((await h.request(lookAlike, { url: '/library' })).body, 'A Field Guide to Testing', 'the look-alike\'s library is empty')
  t.equal((await order(h, orderId)).user_id, guest.id, 'the order stays kim@\'s')
  t.equal((await libraryRows(h))[0]?.user_id, guest.id)

  const kim = await h.signIn({ email: 'Kim@Example.com', sub: 'kim', verified: true })
  t.match((await h.request(kim, { url: '/library' })).body, 'A Field Guide to Testing', 'Kim@Example.com claims it')
  const me = await h.app.db.selectFrom('users').select('id').where('subject', '=', 'kim').executeTakeFirstOrThrow()
  t.equal((await order(h, orderId)).user_id, me.id)
})

t.test('a guest buying as \\u212Aim@ (Kelvin sign) gets an address of their own, and POST /links for kim@ mails none of it', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const { h } = s
  const { orderId } = await guestPurchase(s, '\u212Aim@example.com')
  t.equal(await guestOf(h, 'kim@example.com'), undefined, 'no guest row for kim@')
  t.equal((await order(h, orderId)).user_id, (await guestOf(h, '\u212Aim@example.com'))?.id, 'the order is the Kelvin address\'s')
  t.same(await h.app.outbox.rows.paidOrdersOf('kim@example.com'), [], 'kim@ has no paid orders')
  t.same((await h.app.outbox.rows.paidOrdersOf('\u212Aim@example.com')).map((o) => o.id), [orderId], 'the buyer has hers')
  const asked = await h.request(null, { method: 'POST', url: '/links', form: { email: 'kim@example.com' } })
  t.equal(asked.statusCode, 200)
  const links = await h.app.db.selectFrom('outbox').select('to_address').where('kind', '=', 'links').execute()
  t.same(links, [], 'no mail of links is queued for kim@')
})

t.test('GUEST_CHECKOUT=0: a signed-out Buy goes through sign-in first, as before', async (t) => {
  const s = await shop(t, { GUEST_CHECKOUT: '0' })
  const { h } = s
  const page = await h.request(null, { url: `/content/${s.slug}` })
  t.same(setCookies(page), [], 'no token, no cookie for a signed-out visitor')
  t.notMatch(page.body, 'come by email')
  const buy = await h.request(new CookieJar(), { method: 'POST', url: `/checkout/${s.slug}`, headers: { referer: `${h.config.publicUrl}/content/${s.slug}` }, form: { _csrf: '' } })
  t.equal(buy.statusCode, 303)
  t.equal(buy.headers.location, `/login?next=${encodeURIComponent(`/content/${s.slug}`)}`)
  t.equal((await orders(h)).length, 0)
  t.equal(h.stripe.requests.length, 0)
})

t.test('a guest\'s bank transfer: the page in that browser says the link will be emailed, then shows it once settled', async (t) => {
  const s = await shop(t)
  const { h } = s
  const jar = new CookieJar()
  const { sessionId } = await guestBuy(h, jar, s.slug)
  await h.stripe.pay(sessionId, 'bank_transfer', { email: 'slow@example.com' })
  const waiting = await successPage(h, jar, sessionId)
  t.equal(waiting.statusCode, 200)
  t.match(waiting.body, 'Payment processing')
  t.match(waiting.body, 'a receipt with the download link will be emailed to slow@example.com')
  t.notMatch(waiting.body, '/d/', 'no link before the money arrives')
  await h.stripe.settle(sessionId, 'succeeded')
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.async_payment_succeeded'))).statusCode, 200)
  const done = await successPage(h, jar, sessionId)
  t.match(done.body, 'Thank you')
  t.match(done.body, /href="http[^"]+\/d\/[^"]+"/)
})
