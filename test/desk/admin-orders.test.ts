// backends: sqlite, postgres-s3
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { ADMIN_EMAIL, build, type CookieJar, csrfFrom, type Harness } from '../helpers/build.js'
import { buy, lastEvent, libraryRows, order, paidAtStripe, paymentState, shop, startCheckout, userId } from '../helpers/purchase.js'

const HEADER = 'order_id,created_at,paid_at,status,item_slug,item_title,buyer_email,amount,currency,payment_intent'
const DAY = 24 * 60 * 60 * 1000

const refundCalls = (h: Harness) => h.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds')

async function refund (h: Harness, jar: CookieJar, orderId: string, token?: string) {
  const form: Record<string, string> = token === undefined ? { _csrf: await h.csrf(jar) } : token === '' ? {} : { _csrf: token }
  return await h.request(jar, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form })
}

interface Seed { status?: string, amount?: number, currency?: string, paidAt?: Date | null, createdAt?: Date, userId: number, contentId: number, paymentIntent?: string | null }

/** Orders written straight into the database: the figures need known dates and amounts. */
async function seedOrders (h: Harness, seeds: Seed[]): Promise<string[]> {
  const rows = seeds.map((s) => {
    const status = s.status ?? 'paid'
    const paid = status === 'paid' || status === 'refunded'
    const paidAt = s.paidAt === undefined ? (paid ? new Date() : null) : s.paidAt
    return {
      id: randomUUID(),
      user_id: s.userId,
      content_id: s.contentId,
      amount_cents: s.amount ?? 500,
      // A refunded order was refunded in full (see migrations/0014-partial-refunds.ts).
      refunded_cents: status === 'refunded' ? s.amount ?? 500 : 0,
      currency: s.currency ?? 'usd',
      status: status as 'paid',
      provider_payment_id: s.paymentIntent === undefined ? `pi_seed_${randomUUID().slice(0, 8)}` : s.paymentIntent,
      created_at: (s.createdAt ?? paidAt ?? new Date()).toISOString(),
      paid_at: paidAt === null ? null : paidAt.toISOString()
    }
  })
  for (let i = 0; i < rows.length; i += 500) await h.app.db.insertInto('orders').values(rows.slice(i, i + 500)).execute()
  return rows.map((r) => r.id)
}

async function contentId (h: Harness, slug: string): Promise<number> {
  return (await h.app.db.selectFrom('content').select('id').where('slug', '=', slug).executeTakeFirstOrThrow()).id
}

const csvRecords = (body: string): string[] => body.split('\r\n').filter((line) => line !== '')

t.test('every admin route: anonymous visitors are sent to sign in, readers get 403', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await startCheckout(h, s.reader, s.slug)
  const gets = ['/admin', '/admin/flush', '/admin/orders', '/admin/orders?status=paid', '/admin/orders.csv', `/admin/orders/${pending.id}`, '/admin/customers']
  for (const url of gets) {
    const anonymous = await h.request(null, { url })
    t.equal(anonymous.statusCode, 302, `anonymous GET ${url}`)
    t.match(anonymous.headers.location, /^\/login\?next=/)
    t.equal((await h.request(s.reader, { url })).statusCode, 403, `reader GET ${url}`)
    t.equal((await h.request(s.admin, { url })).statusCode, 200, `admin GET ${url}`)
  }
  const token = await h.csrf(s.reader)
  t.equal((await h.request(null, { method: 'POST', url: `/admin/orders/${pending.id}/refund`, form: {} })).statusCode, 303, 'anonymous POST refund goes to sign in')
  t.equal((await h.request(s.reader, { method: 'POST', url: `/admin/orders/${pending.id}/refund`, form: { _csrf: token } })).statusCode, 403, 'reader POST refund')
  t.equal(refundCalls(h).length, 0)
})

t.test('the dashboard: revenue for 7 and 30 days and all time against hand-computed sums, chart, items, latest orders, links', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  const second = await h.upload(s.admin, { title: 'Second Book', price: '7.50' })
  const other = await contentId(h, (second.headers.location as string).replace('/content/', ''))
  const now = Date.now()
  const at = (daysAgo: number) => new Date(now - daysAgo * DAY)
  const buyer = s.readerId
  await seedOrders(h, [
    { userId: buyer, contentId: item, amount: 500, paidAt: at(0) }, // today
    { userId: buyer, contentId: other, amount: 750, paidAt: at(2) },
    { userId: buyer, contentId: item, amount: 500, paidAt: at(3), status: 'refunded' }, // refunded, in the week
    { userId: buyer, contentId: other, amount: 750, paidAt: at(10) }, // the month, not the week
    { userId: buyer, contentId: item, amount: 500, paidAt: at(45) }, // all time only
    { userId: buyer, contentId: other, amount: 750, paidAt: at(50), status: 'refunded' },
    { userId: buyer, contentId: item, amount: 500, status: 'pending' }, // never paid: not counted
    { userId: buyer, contentId: item, amount: 500, status: 'review', paidAt: null },
    { userId: buyer, contentId: item, amount: 900, currency: 'eur', paidAt: at(1) } // another currency: left out
  ])
  const figures = await h.app.sales.dashboard()
  // week: 500 + 750 + 500 (refunded) = 1750 gross, 500 refunded, 1250 net
  t.same(figures.windows.week, { gross: 1750, refunded: 500, net: 1250, sales: 3 })
  // month: + 750 = 2500 gross
  t.same(figures.windows.month, { gross: 2500, refunded: 500, net: 2000, sales: 4 })
  // all: + 500 + 750 (refunded) = 3750 gross, 1250 refunded
  t.same(figures.windows.all, { gross: 3750, refunded: 1250, net: 2500, sales: 6 })
  t.equal(figures.daily.length, 30)
  t.equal(figures.daily.reduce((sum, d) => sum + d.amount, 0), 2500, 'the chart adds up to the month')
  t.equal(figures.daily[29]!.day, new Date(now).toISOString().slice(0, 10), 'the last bar is today')
  t.same(figures.items.map((i) => [i.title, i.sales, i.refunds, i.net]), [['Second Book', 3, 1, 1500], ['A Field Guide to Testing', 3, 1, 1000]])

  const page = await h.request(s.admin, { url: '/admin' })
  t.equal(page.statusCode, 200)
  const body = page.body
  t.match(body, '$12.50', 'net of the week')
  t.match(body, '$17.50', 'gross of the week')
  t.match(body, '$37.50', 'gross of all time')
  t.match(body, /<svg class="chart-bars"[^>]*role="img"[^>]*aria-labelledby="chart-title chart-desc"/)
  t.match(body, /<title id="chart-title">Daily sales/)
  t.match(body, /<desc id="chart-desc">\$25\.00 from 4 sales in the last 30 days/)
  t.equal((body.match(/<rect /g) ?? []).length, 30, 'a bar a day')
  t.match(body, /<table class="visually-hidden">\s*<caption>Daily sales, last 30 days<\/caption>/, 'the figures as a table for screen readers')
  for (const href of ['/admin/orders', '/admin/content', '/admin/customers', '/admin/settings', '/admin/content/new', '/admin/flush']) {
    t.match(body, `href="${href}"`, `links to ${href}`)
  }
  const latest = await h.app.db.selectFrom('orders').select('id').orderBy('created_at', 'desc').executeTakeFirstOrThrow()
  t.match(body, `href="/admin/orders/${latest.id}"`, 'the latest orders link to their pages')
})

t.test('the flush confirmation page explains and posts to the flush; the flush itself is unchanged', async (t) => {
  const s = await shop(t)
  const page = await s.h.request(s.admin, { url: '/admin/flush' })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'This deletes every item, order')
  t.match(page.body, 'Users are kept.')
  t.match(page.body, /<form method="post" action="\/admin\/flush"/)
  const flushed = await s.h.request(s.admin, { method: 'POST', url: '/admin/flush', form: { _csrf: csrfFrom(page.body, '/admin/flush') } })
  t.equal(flushed.statusCode, 303)
  t.equal(flushed.headers.location, '/')
})

t.test('orders: newest first, status filter, search by buyer e-mail, title or slug, keyset pages', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  const second = await h.upload(s.admin, { title: 'Cooking With Gas', price: '7.50' })
  const other = await contentId(h, (second.headers.location as string).replace('/content/', ''))
  await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  const bobId = await userId(h, 'bob@example.com')
  const base = Date.now() - 200 * 60_000
  const seeds: Seed[] = Array.from({ length: 120 }, (_, i) => ({
    userId: i % 3 === 0 ? bobId : s.readerId,
    contentId: i % 4 === 0 ? other : item,
    status: i % 5 === 0 ? 'refunded' : 'paid',
    createdAt: new Date(base + i * 60_000),
    paidAt: new Date(base + i * 60_000)
  }))
  const ids = await seedOrders(h, seeds)
  const newestFirst = [...ids].reverse()

  const first = await h.request(s.admin, { url: '/admin/orders' })
  t.equal(first.statusCode, 200)
  const linked = (body: string) => [...body.matchAll(/href="\/admin\/orders\/([0-9a-f-]{36})"/g)].map((m) => m[1]!)
  t.same(linked(first.body), newestFirst.slice(0, 50), 'newest first, 50 a page, each row links to its order')
  t.match(first.body, '120 orders')
  const older = /href="(\/admin\/orders\?before=[^"]+)"/.exec(first.body)?.[1]?.replaceAll('&amp;', '&')
  t.ok(older, 'a link to older orders')
  t.notMatch(first.body, 'Newer', 'no newer page on the first')
  const page2 = await h.request(s.admin, { url: older! })
  t.same(linked(page2.body), newestFirst.slice(50, 100))
  const older3 = /href="(\/admin\/orders\?before=[^"]+)"/.exec(page2.body)![1]!.replaceAll('&amp;', '&')
  const page3 = await h.request(s.admin, { url: older3 })
  t.same(linked(page3.body), newestFirst.slice(100, 120), 'the last page')
  t.notMatch(page3.body, 'Older →')
  const newer = /href="(\/admin\/orders\?after=[^"]+)"/.exec(page3.body)![1]!.replaceAll('&amp;', '&')
  t.same(linked((await h.request(s.admin, { url: newer })).body), newestFirst.slice(50, 100), 'back to the newer page')

  const refunded = await h.request(s.admin, { url: '/admin/orders?status=refunded' })
  t.same(linked(refunded.body), newestFirst.filter((id) => seeds[ids.indexOf(id)]!.status === 'refunded'))
  t.match(refunded.body, '24 orders match the filter')

  const byBob = newestFirst.filter((id) => seeds[ids.indexOf(id)]!.userId === bobId)
  t.same(linked((await h.request(s.admin, { url: '/admin/orders?q=BOB%40example' })).body), byBob.slice(0, 50), 'buyer e-mail, any case')
  const cooking = newestFirst.filter((id) => seeds[ids.indexOf(id)]!.contentId === other)
  t.same(linked((await h.request(s.admin, { url: '/admin/orders?q=with%20gas' })).body), cooking, 'item title')
  t.same(linked((await h.request(s.admin, { url: '/admin/orders?q=cooking-with' })).body), cooking, 'item slug')
  const both = newestFirst.filter((id) => seeds[ids.indexOf(id)]!.contentId === other && seeds[ids.indexOf(id)]!.status === 'refunded')
  t.same(linked((await h.request(s.admin, { url: '/admin/orders?q=gas&status=refunded' })).body), both, 'search and status together')
  t.same(linked((await h.request(s.admin, { url: '/admin/orders?q=100%25' })).body), [], 'a % in the search is taken literally')
  t.equal((await h.request(s.admin, { url: '/admin/orders?status=bogus' })).statusCode, 400)
  t.equal((await h.request(s.admin, { url: '/admin/orders?before=garbage' })).statusCode, 200, 'a mangled cursor starts from the newest')
})

t.test('the order page: details and a timeline with the redirect, the webhook event and a download', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await buy(s) // paid through the success redirect
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.completed'))).statusCode, 200) // then Stripe's event
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)
  const paid = await order(h, pending.id)

  const page = await h.request(s.admin, { url: `/admin/orders/${pending.id}` })
  t.equal(page.statusCode, 200)
  const body = page.body
  t.match(body, 'reader@example.com')
  t.match(body, 'A Field Guide to Testing')
  t.match(body, '$5.00')
  t.match(body, sessionId, 'the Checkout Session id')
  t.match(body, paid.provider_payment_id!, 'the payment intent')
  const timeline = body.slice(body.indexOf('<ol class="timeline">'))
  const expected = ['Order created', 'Checkout attached', 'Success redirect', 'Webhook event', 'Downloaded']
  let at = 0
  for (const label of expected) {
    const found = timeline.indexOf(`<strong>${label}</strong>`, at)
    t.ok(found >= 0, `${label}, in order`)
    at = found
  }
  t.match(timeline, 'paid, access granted', 'the redirect granted')
  t.match(timeline, /checkout\.session\.completed \(evt_\w+\): already paid, nothing changed/, 'the webhook found it done')
  t.match(timeline, 'version 1')
  t.match(body, /<a class="button danger-outline" href="\/admin\/orders\/[\w-]+\/refund">Refund…<\/a>/, 'a refund link for a paid order, to the confirm page')
  t.equal((await h.request(s.admin, { url: '/admin/orders/no-such-order' })).statusCode, 404)
})

t.test('refund through Stripe: order refunded, access gone, one POST /v1/refunds with the order\'s key; the later charge.refunded changes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await buy(s)
  const paid = await order(h, pending.id)
  const response = await refund(h, s.admin, pending.id)
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, `/admin/orders/${pending.id}`)
  t.equal((await order(h, pending.id)).status, 'refunded')
  t.same(await libraryRows(h), [], 'access revoked at once')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 403)
  const calls = refundCalls(h)
  t.equal(calls.length, 1, 'one refund call')
  t.equal(calls[0]!.headers['idempotency-key'], `refund-${pending.id}-0`, 'the order and the amount refunded before')
  t.same(calls[0]!.body, { payment_intent: paid.provider_payment_id })

  const page = await h.request(s.admin, { url: `/admin/orders/${pending.id}` })
  t.match(page.body, 'Refunded $5.00 to reader@example.com. Their access to the item was removed.', 'the flash')
  t.match(page.body, /<strong>Refunded<\/strong>[\s\S]*by the admin \(re_\w+\)/, 'the timeline')
  t.notMatch(page.body, '/refund"', 'no refund button any more')

  const event = lastEvent(h, 'charge.refunded')
  t.equal(event.data.object.refunded, true, 'the emulator emitted a full charge.refunded')
  const before = await paymentState(h)
  const delivered = await h.webhook(event)
  t.equal(delivered.statusCode, 200)
  t.equal(JSON.parse(delivered.body).outcome, 'already_refunded')
  const after = await paymentState(h) as { events: unknown[] }
  t.same({ ...after, events: [] }, { ...(before as object), events: [] }, 'orders and library unchanged')
  t.equal(refundCalls(h).length, 1)
})

t.test('refunding one of two paid orders for the same item keeps the buyer\'s access', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: first } = await buy(s)
  // A second paid order for the same item (two tabs before checkouts were reused).
  const item = await contentId(h, s.slug)
  const [secondId] = await seedOrders(h, [{ userId: s.readerId, contentId: item }])
  const response = await refund(h, s.admin, first.id)
  t.equal(response.statusCode, 303)
  t.equal((await order(h, first.id)).status, 'refunded')
  t.same(await libraryRows(h), [{ user_id: s.readerId, content_id: item, order_id: secondId }], 'access kept by the other order')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)
  t.match((await h.request(s.admin, { url: `/admin/orders/${first.id}` })).body, 'They keep the item through another paid order of it.')
})

t.test('refunding a paid order ends access although the buyer has a pending, failed or in-review order for the same item', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  for (const status of ['pending', 'failed', 'review']) {
    // Each its own buyer, who paid once and has another order of the item that never paid.
    const email = `${status}@example.com`
    const buyer = await h.signIn({ email, sub: status })
    const { sessionId, order: paid } = await startCheckout(h, buyer, s.slug)
    await h.stripe.pay(sessionId)
    t.equal((await h.request(buyer, { url: `/checkout/success?session_id=${sessionId}` })).statusCode, 200)
    const [sibling] = await seedOrders(h, [{ userId: await userId(h, email), contentId: item, status, paymentIntent: null }])
    t.equal((await h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 200, `${status}: downloads while paid`)

    t.equal((await refund(h, s.admin, paid.id)).statusCode, 303)
    t.equal((await order(h, paid.id)).status, 'refunded')
    t.equal((await order(h, sibling!)).status, status, `${status}: the other order is left as it was`)
    t.same((await libraryRows(h)).filter((row) => row.order_id === paid.id || row.order_id === sibling), [], `${status}: no library row, neither by the refunded order nor moved to the ${status} one`)
    t.equal((await h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 403, `${status}: the download is refused`)
    t.match((await h.request(s.admin, { url: `/admin/orders/${paid.id}` })).body, 'Their access to the item was removed.', `${status}: the flash says access went`)
  }
})

t.test('refunding twice changes nothing the second time and calls Stripe once', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await buy(s)
  t.equal((await refund(h, s.admin, pending.id)).statusCode, 303)
  await h.request(s.admin, { url: `/admin/orders/${pending.id}` }) // shows (and uses up) the first flash
  const before = await paymentState(h)
  const again = await refund(h, s.admin, pending.id)
  t.equal(again.statusCode, 303)
  t.same(await paymentState(h), before)
  t.equal(refundCalls(h).length, 1, 'no second Stripe call')
  t.match((await h.request(s.admin, { url: `/admin/orders/${pending.id}` })).body, 'This order was already refunded; nothing changed.')

  // Two clicks at once: both may reach Stripe, with the same key, and the order is refunded once.
  const s2 = await shop(t)
  const { order: other } = await buy(s2)
  const token = await s2.h.csrf(s2.admin)
  const answers = await Promise.all([refund(s2.h, s2.admin, other.id, token), refund(s2.h, s2.admin, other.id, token)])
  t.same(answers.map((a) => a.statusCode), [303, 303])
  t.ok(refundCalls(s2.h).every((call) => call.headers['idempotency-key'] === `refund-${other.id}-0`))
  t.equal(s2.h.stripe.events.filter((e) => e.type === 'charge.refunded').length, 1, 'one refund at Stripe')
  const events = await s2.h.app.db.selectFrom('order_events').select('kind').where('order_id', '=', other.id).where('kind', '=', 'refund').execute()
  t.equal(events.length, 1, 'one refund on the timeline')
})

t.test('a pending order cannot be refunded: 409 with a sentence, no Stripe call', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await startCheckout(h, s.reader, s.slug)
  const response = await refund(h, s.admin, pending.id)
  t.equal(response.statusCode, 409)
  t.match(response.body, 'Only paid orders can be refunded; this one is pending')
  t.equal((await order(h, pending.id)).status, 'pending')
  t.equal(refundCalls(h).length, 0)
  t.notMatch((await h.request(s.admin, { url: `/admin/orders/${pending.id}` })).body, '/refund"', 'no refund button')
  t.equal((await refund(h, s.admin, 'no-such-order')).statusCode, 404)
})

t.test('Stripe failing: the order page says so with 502 and nothing changes', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await buy(s)
  const before = await paymentState(h)
  const token = await h.csrf(s.admin)
  h.stripe.failNext(500, { type: 'api_error', message: 'Something went wrong on Stripe\'s end.' })
  const response = await refund(h, s.admin, pending.id, token)
  t.equal(response.statusCode, 502)
  t.match(response.body, 'The refund did not go through, so nothing was changed.')
  t.match(response.body, 'A Field Guide to Testing', 'on the order page')
  t.same(await paymentState(h), before, 'nothing changed')
  t.equal(h.stripe.events.filter((e) => e.type === 'charge.refunded').length, 0)

  // Trying again works.
  t.equal((await refund(h, s.admin, pending.id, token)).statusCode, 303)
  t.equal((await order(h, pending.id)).status, 'refunded')
})

t.test('a charge already refunded at Stripe (its dashboard) is refunded here too', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await buy(s)
  await h.stripe.refund(sessionId) // its webhook is not delivered (no URL in tests)
  const response = await refund(h, s.admin, pending.id)
  t.equal(response.statusCode, 303)
  t.equal((await order(h, pending.id)).status, 'refunded')
  t.same(await libraryRows(h), [])
})

t.test('the refund form needs its CSRF token', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await buy(s)
  t.equal((await refund(h, s.admin, pending.id, '')).statusCode, 403, 'no token')
  t.equal((await refund(h, s.admin, pending.id, 'forged')).statusCode, 403, 'a wrong token')
  t.equal((await order(h, pending.id)).status, 'paid')
  t.equal(refundCalls(h).length, 0)
})

t.test('CSV: attachment, exact header, decimal amounts, RFC 4180 quoting, formula injection, filters', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  const [plain] = await seedOrders(h, [{ userId: s.readerId, contentId: item, amount: 750, paymentIntent: 'pi_one' }])
  const response = await h.request(s.admin, { url: '/admin/orders.csv' })
  t.equal(response.statusCode, 200)
  t.equal(response.headers['content-type'], 'text/csv; charset=utf-8')
  t.equal(response.headers['content-disposition'], 'attachment; filename="orders.csv"')
  const records = csvRecords(response.body)
  t.equal(records[0], HEADER)
  const row = (await order(h, plain!))
  t.equal(records[1], `${plain},${row.created_at},${row.paid_at},paid,${s.slug},A Field Guide to Testing,reader@example.com,7.50,usd,pi_one`)

  await h.app.db.updateTable('content').set({ title: 'Commas, "quotes"\nand lines' }).where('id', '=', item).execute()
  const quoted = (await h.request(s.admin, { url: '/admin/orders.csv' })).body
  t.match(quoted, ',"Commas, ""quotes""\nand lines",')
  await h.app.db.updateTable('content').set({ title: '=HYPERLINK("http://evil.example","x")' }).where('id', '=', item).execute()
  t.match((await h.request(s.admin, { url: '/admin/orders.csv' })).body, ',"\'=HYPERLINK(""http://evil.example"",""x"")",')

  await seedOrders(h, [{ userId: s.readerId, contentId: item, status: 'pending', paidAt: null }])
  const pendingOnly = csvRecords((await h.request(s.admin, { url: '/admin/orders.csv?status=pending' })).body)
  t.equal(pendingOnly.length, 2)
  t.match(pendingOnly[1], ',pending,')
  t.equal(csvRecords((await h.request(s.admin, { url: '/admin/orders.csv?q=nobody' })).body).length, 1, 'only the header')
})

t.test('CSV amounts in a JPY store are whole yen', async (t) => {
  const h = await build(t, { STORE_CURRENCY: 'jpy' })
  const admin = await h.signIn({ email: ADMIN_EMAIL, sub: 'admin' })
  const uploaded = await h.upload(admin, { price: '500' })
  const slug = (uploaded.headers.location as string).replace('/content/', '')
  await seedOrders(h, [{ userId: await userId(h, ADMIN_EMAIL), contentId: await contentId(h, slug), amount: 500, currency: 'jpy' }])
  const records = csvRecords((await h.request(admin, { url: '/admin/orders.csv' })).body)
  t.match(records[1], /,500,jpy,/)
  t.match((await h.request(admin, { url: '/admin' })).body, '¥500')
})

t.test('CSV of 5,000 orders arrives whole, streamed in batches', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  const base = Date.now() - 10_000 * 1000
  await seedOrders(h, Array.from({ length: 5000 }, (_, i) => ({ userId: s.readerId, contentId: item, createdAt: new Date(base + i * 1000), paidAt: new Date(base + i * 1000) })))
  const response = await h.request(s.admin, { url: '/admin/orders.csv' })
  t.equal(response.statusCode, 200)
  const records = csvRecords(response.body)
  t.equal(records.length, 5001, 'the header and every order')
  t.equal(new Set(records.slice(1).map((r) => r.split(',')[0])).size, 5000, 'no order twice')
  // The export is a generator pulled a batch at a time: never more than one batch of rows held.
  const chunks: string[] = []
  for await (const chunk of h.app.sales.csv({}, 500)) chunks.push(chunk)
  t.equal(chunks.length, 1 + 10, 'the header, then ten batches of 500')
  t.ok(chunks.slice(1).every((chunk) => csvRecords(chunk).length === 500))
})

t.test('customers: buyers with paid orders, spent net of refunds, first and last purchase', async (t) => {
  const s = await shop(t)
  const { h } = s
  const item = await contentId(h, s.slug)
  await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  const bob = await userId(h, 'bob@example.com')
  const first = new Date('2026-01-02T10:00:00Z')
  const last = new Date('2026-03-04T10:00:00Z')
  await seedOrders(h, [
    { userId: s.readerId, contentId: item, amount: 500, paidAt: first },
    { userId: s.readerId, contentId: item, amount: 700, paidAt: last },
    { userId: s.readerId, contentId: item, amount: 900, paidAt: new Date('2026-02-01T00:00:00Z'), status: 'refunded' },
    { userId: bob, contentId: item, status: 'pending' }
  ])
  const page = await h.app.sales.customers(1)
  t.equal(page.total, 2)
  const reader = page.customers.find((c) => c.id === s.readerId)!
  t.same({ paid: reader.paid_orders, spent: reader.spent, first: reader.first_purchase, last: reader.last_purchase },
    { paid: 2, spent: 1200, first: first.toISOString(), last: last.toISOString() })
  t.equal(page.customers[0]!.id, s.readerId, 'the latest purchase first; a buyer who never paid last')
  const html = (await h.request(s.admin, { url: '/admin/customers' })).body
  t.match(html, 'reader@example.com')
  t.match(html, '$12.00')
  t.match(html, 'bob@example.com')
  t.match(html, 'href="/admin/orders?q=reader%40example.com"')
})

t.test('the emulator\'s POST /v1/refunds: Stripe\'s refund object, idempotent, charge.refunded, Stripe\'s errors', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId } = await paidAtStripe(s)
  const pi = h.stripe.sessions.get(sessionId)!.payment_intent!
  const post = async (body: string, key?: string) => await fetch(`${h.stripe.url}/v1/refunds`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded', ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body
  })
  const missing = await post('payment_intent=pi_nope')
  t.equal(missing.status, 404)
  t.match(await missing.json(), { error: { type: 'invalid_request_error', code: 'resource_missing', param: 'payment_intent' } })
  t.equal((await post('payment_intent=' + pi + '&bogus=1')).status, 400, 'unknown parameter')

  const first = await post(`payment_intent=${pi}`, 'k1')
  t.equal(first.status, 200)
  const refundObject = await first.json() as Record<string, unknown>
  t.match(refundObject, { object: 'refund', amount: 500, currency: 'usd', payment_intent: pi, status: 'succeeded' })
  t.match(refundObject.id, /^re_/)
  const events = h.stripe.events.filter((e) => e.type === 'charge.refunded')
  t.equal(events.length, 1)
  t.match(events[0]!.data.object, { payment_intent: pi, refunded: true, amount_refunded: 500 })

  const replay = await post(`payment_intent=${pi}`, 'k1')
  t.equal(replay.headers.get('idempotent-replayed'), 'true')
  t.same(await replay.json(), refundObject, 'the same refund')
  t.equal(h.stripe.events.filter((e) => e.type === 'charge.refunded').length, 1, 'no second event')

  const again = await post(`payment_intent=${pi}`, 'k2')
  t.equal(again.status, 400)
  t.match(await again.json(), { error: { code: 'charge_already_refunded' } })

  const unpaid = await startCheckout(h, await h.signIn({ email: 'carol@example.com', sub: 'carol' }), s.slug)
  await h.stripe.pay(unpaid.sessionId, 'bank_transfer')
  const pending = h.stripe.sessions.get(unpaid.sessionId)!.payment_intent!
  t.equal((await post(`payment_intent=${pending}`)).status, 400, 'nothing paid yet')
})

t.test('Stripe\'s charge.refunded arriving before its refund answer: the refund is the admin\'s, once on the timeline', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await buy(s)
  const paid = await order(h, pending.id)
  // The event is applied first (as a fast webhook would), then Stripe's answer is recorded.
  const event = h.stripe.buildEvent('charge.refunded', { id: 'ch_fast', object: 'charge', payment_intent: paid.provider_payment_id, refunded: true })
  t.equal(JSON.parse((await h.webhook(event)).body).outcome, 'refunded')
  t.same(await h.app.orders.recordRefund(pending.id, 're_fast'), { outcome: 'refunded', keptBy: null, refundedCents: 500 })
  t.same(await h.app.orders.recordRefund(pending.id, 're_fast'), { outcome: 'already_refunded', keptBy: null, refundedCents: 500 }, 'the same answer again changes nothing')
  const kinds = (await h.app.db.selectFrom('order_events').select(['kind', 'detail']).where('order_id', '=', pending.id).execute())
  t.equal(kinds.filter((e) => e.kind === 'refund').length, 1)
  t.ok(kinds.some((e) => e.kind === 'webhook' && e.detail!.startsWith('charge.refunded')))
})
