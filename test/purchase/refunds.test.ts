// backends: sqlite, postgres-s3
// Refunds from the desk, confirmed, whole or in part (DESIGN.md, "Trust (round 3)"), and what the
// buyer meets after one: the refund notice, the refused download, the item page. Mollie's partial
// refunds are in mollie.test.ts.
import { randomUUID } from 'node:crypto'
import t from 'tap'
import type { CookieJar, Harness } from '../helpers/build.js'
import { buy, lastEvent, libraryRows, order, paymentState, shop, type Shop, startCheckout, successPage } from '../helpers/purchase.js'
import { smtpServer } from '../helpers/smtp.js'
import { sleep } from '../helpers/net.js'

const refundCalls = (h: Harness) => h.stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds')

const confirmPage = async (h: Harness, jar: CookieJar, orderId: string) => await h.request(jar, { url: `/admin/orders/${orderId}/refund` })

/** The confirm page's form as a browser sends it: its token and "already refunded", and the amount (left out when undefined). */
async function submit (h: Harness, jar: CookieJar, orderId: string, fields: { amount?: string, refunded?: string } = {}) {
  const page = await confirmPage(h, jar, orderId)
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? await h.csrf(jar)
  const refunded = fields.refunded ?? /name="refunded" value="([^"]*)"/.exec(page.body)?.[1]
  const form: Record<string, string> = { _csrf: csrf }
  if (refunded !== undefined) form.refunded = refunded
  if (fields.amount !== undefined) form.amount = fields.amount
  return await h.request(jar, { method: 'POST', url: `/admin/orders/${orderId}/refund`, form })
}

async function download (s: Shop): Promise<number> {
  return (await s.h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode
}

t.test('the confirm page shows what was paid, what was refunded and what is left, with a form for the amount', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: bought } = await buy(s)
  const orderPage = await h.request(s.admin, { url: `/admin/orders/${bought.id}` })
  t.match(orderPage.body, `href="/admin/orders/${bought.id}/refund"`, 'the order page links to it')
  t.notMatch(orderPage.body, `<form method="post" action="/admin/orders/${bought.id}/refund"`, 'no one-click refund on the order page')

  const page = await confirmPage(h, s.admin, bought.id)
  t.equal(page.statusCode, 200)
  t.match(page.body, /<dt>Paid<\/dt><dd>\$5\.00<\/dd>/)
  t.match(page.body, /<dt>Already refunded<\/dt><dd>\$0\.00<\/dd>/)
  t.match(page.body, /<dt>Left to refund<\/dt><dd><strong>\$5\.00<\/strong><\/dd>/)
  t.match(page.body, `<form method="post" action="/admin/orders/${bought.id}/refund"`)
  t.match(page.body, /id="amount" name="amount"[^>]* value="5\.00"/, 'the amount field holds all that is left')
  t.match(page.body, 'name="refunded" value="0.00"')
  t.match(page.body, 'A Field Guide to Testing')
  t.match(page.body, 'reader@example.com')
  t.equal(refundCalls(h).length, 0, 'showing the page refunds nothing')
  t.equal((await order(h, bought.id)).status, 'paid')

  t.equal((await submit(h, s.admin, bought.id, { amount: '2.00' })).statusCode, 303)
  const after = await confirmPage(h, s.admin, bought.id)
  t.match(after.body, /<dt>Already refunded<\/dt><dd>\$2\.00<\/dd>/)
  t.match(after.body, /<dt>Left to refund<\/dt><dd><strong>\$3\.00<\/strong><\/dd>/)
  t.match(after.body, /id="amount" name="amount"[^>]* value="3\.00"/)
  t.match(after.body, 'name="refunded" value="2.00"')

  t.equal((await submit(h, s.admin, bought.id)).statusCode, 303)
  const done = await confirmPage(h, s.admin, bought.id)
  t.equal(done.statusCode, 200)
  t.match(done.body, 'This order is refunded in full: there is nothing left to refund.')
  t.notMatch(done.body, 'name="amount"', 'no form any more')

  t.equal((await h.request(s.reader, { url: `/admin/orders/${bought.id}/refund` })).statusCode, 403, 'readers may not see it')
  t.equal((await h.request(null, { url: `/admin/orders/${bought.id}/refund` })).statusCode, 302, 'anonymous visitors are sent to sign in')
  t.equal((await h.request(s.admin, { url: `/admin/orders/${randomUUID()}/refund` })).statusCode, 404)
})

t.test('a partial refund keeps access: Stripe is asked for that amount, the order stays paid with it refunded', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: bought } = await buy(s)
  const response = await submit(h, s.admin, bought.id, { amount: '2.00' })
  t.equal(response.statusCode, 303)
  t.equal(response.headers.location, `/admin/orders/${bought.id}`)
  const calls = refundCalls(h)
  t.equal(calls.length, 1)
  t.same(calls[0]!.body, { payment_intent: (await order(h, bought.id)).provider_payment_id, amount: '200' }, 'payment_intent and amount')
  t.equal(calls[0]!.headers['idempotency-key'], `refund-${bought.id}-0`)
  const after = await order(h, bought.id)
  t.equal(after.status, 'paid', 'still paid')
  t.equal(after.refunded_cents, 200)
  t.equal((await libraryRows(h)).length, 1, 'still in the library')
  t.equal(await download(s), 200, 'the buyer still downloads it')

  const page = await h.request(s.admin, { url: `/admin/orders/${bought.id}` })
  t.match(page.body, 'Refunded $2.00 to reader@example.com. They keep the item; $3.00 of the order is left to refund.', 'the flash')
  t.match(page.body, /<dt>Refunded<\/dt><dd>\$2\.00/, 'the details say what was refunded')
  t.match(page.body, /<strong>Refunded<\/strong>[\s\S]*\$2\.00 by the admin \(re_\w+\)/, 'the timeline')

  // Stripe's event for this refund changes nothing more.
  const event = lastEvent(h, 'charge.refunded')
  t.match(event.data.object, { refunded: false, amount_refunded: 200 })
  const before = await paymentState(h) as object
  const delivered = await h.webhook(event)
  t.equal(JSON.parse(delivered.body).outcome, 'already_refunded')
  t.same({ ...(await paymentState(h) as object), events: [] }, { ...before, events: [] })
})

t.test('the last cent revokes access; a second partial refund of the same amount is a new refund, not the first again', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: bought } = await buy(s)
  t.equal((await submit(h, s.admin, bought.id, { amount: '2.00' })).statusCode, 303)
  t.equal((await submit(h, s.admin, bought.id, { amount: '2.00' })).statusCode, 303, 'the same amount again, from a fresh page')
  t.equal((await order(h, bought.id)).refunded_cents, 400, 'two refunds of $2.00')
  t.equal((await order(h, bought.id)).status, 'paid')
  t.equal(await download(s), 200)

  t.equal((await submit(h, s.admin, bought.id, { amount: '1.00' })).statusCode, 303, 'the last dollar')
  const after = await order(h, bought.id)
  t.equal(after.status, 'refunded')
  t.equal(after.refunded_cents, 500)
  t.same(await libraryRows(h), [], 'access revoked')
  t.equal(await download(s), 403)
  const keys = refundCalls(h).map((call) => call.headers['idempotency-key'])
  t.same(keys, [`refund-${bought.id}-0`, `refund-${bought.id}-200`, `refund-${bought.id}-400`], 'one key per refund')
  t.same(refundCalls(h).map((call) => (call.body as Record<string, unknown>).amount), ['200', '200', undefined], 'the last one asks for all that is left')
  t.equal(h.stripe.events.filter((e) => e.type === 'charge.refunded').at(-1)!.data.object.refunded, true, 'Stripe refunded all of it')
  t.match((await h.request(s.admin, { url: `/admin/orders/${bought.id}` })).body, 'Refunded $1.00 to reader@example.com. Their access to the item was removed.')

  // Refunding the refunded order again changes nothing and asks Stripe nothing.
  t.equal((await submit(h, s.admin, bought.id, { amount: '1.00', refunded: '4.00' })).statusCode, 303)
  t.equal(refundCalls(h).length, 3)
  t.equal((await order(h, bought.id)).refunded_cents, 500)
})

t.test('a double click refunds once: one call to Stripe, whether the second click comes after or with the first', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: bought } = await buy(s)
  const page = await confirmPage(h, s.admin, bought.id)
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!
  const form = { _csrf: csrf, refunded: '0.00', amount: '2.00' }
  const post = async () => await h.request(s.admin, { method: 'POST', url: `/admin/orders/${bought.id}/refund`, form })
  t.same([(await post()).statusCode, (await post()).statusCode], [303, 303], 'one after the other')
  t.equal(refundCalls(h).length, 1, 'one provider call')
  t.equal((await order(h, bought.id)).refunded_cents, 200, 'refunded once')
  t.match((await h.request(s.admin, { url: `/admin/orders/${bought.id}` })).body, 'This refund was already made; nothing changed.')

  const again = { ...form, refunded: '2.00' }
  const answers = await Promise.all([1, 2].map(async () => await h.request(s.admin, { method: 'POST', url: `/admin/orders/${bought.id}/refund`, form: again })))
  t.same(answers.map((a) => a.statusCode), [303, 303], 'both at once')
  t.equal(refundCalls(h).length, 2, 'one more provider call')
  t.equal((await order(h, bought.id)).refunded_cents, 400)
  const events = await h.app.db.selectFrom('order_events').select('detail').where('order_id', '=', bought.id).where('kind', '=', 'refund').execute()
  t.equal(events.length, 2, 'two refunds on the timeline')
})

t.test('bad amounts are answered 400 on the confirm page and refund nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: bought } = await buy(s)
  const before = await paymentState(h)
  const cases: Array<[string, RegExp]> = [
    ['0', /must be more than 0/],
    ['0.00', /must be more than 0/],
    ['-1.00', /must be a number in USD with at most 2 decimals, like 2\.50/],
    ['5.01', /At most \$5\.00 is left to refund of this order, so \$5\.01 cannot be refunded/],
    ['50', /At most \$5\.00 is left/],
    ['2.505', /at most 2 decimals/],
    ['1,50', /must be a number in USD/],
    ['two', /must be a number in USD/],
    ['1e2', /must be a number in USD/],
    ['2.5.0', /must be a number in USD/]
  ]
  for (const [amount, message] of cases) {
    const response = await submit(h, s.admin, bought.id, { amount })
    t.equal(response.statusCode, 400, `"${amount}" is 400`)
    t.match(response.body, message, `"${amount}": the page says why`)
    t.match(response.body, 'Nothing was refunded.')
    t.match(response.body, /<h1>Refund order/, 'on the confirm page')
    t.match(response.body, /id="amount" name="amount"[^>]*aria-invalid="true"/, 'the amount field is marked')
    t.match(response.body, `value="${amount.replace(/&/g, '&amp;')}"`, 'with what was typed')
  }
  const tooLong = await submit(h, s.admin, bought.id, { amount: '1'.repeat(60) })
  t.equal(tooLong.statusCode, 400, 'an absurdly long amount too')
  t.equal(refundCalls(h).length, 0, 'Stripe was never asked')
  t.same(await paymentState(h), before, 'nothing changed')

  // The page was out of date: more was refunded since (Stripe's dashboard), so nothing goes now.
  await h.stripe.refund((await order(h, bought.id)).provider_checkout_id!, 100)
  t.equal((await h.webhook(lastEvent(h, 'charge.refunded'))).statusCode, 200)
  const stale = await submit(h, s.admin, bought.id, { amount: '2.00', refunded: '0.00' })
  t.equal(stale.statusCode, 409)
  t.match(stale.body, 'Since this page was shown, the amount refunded of this order changed to $1.00, so nothing was refunded now.')
  t.equal(refundCalls(h).length, 0)
  t.equal((await order(h, bought.id)).refunded_cents, 100)
})

t.test('a charge.refunded for part of the payment (Stripe\'s dashboard) keeps access; one that reaches the whole amount revokes', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: bought } = await buy(s)
  await h.stripe.refund(sessionId, 150)
  const partial = lastEvent(h, 'charge.refunded')
  t.match(partial.data.object, { refunded: false, amount_refunded: 150 })
  t.equal(JSON.parse((await h.webhook(partial)).body).outcome, 'partial_refund')
  t.equal((await order(h, bought.id)).status, 'paid')
  t.equal((await order(h, bought.id)).refunded_cents, 150, 'the amount is recorded')
  t.equal(await download(s), 200, 'access kept')
  t.match((await confirmPage(h, s.admin, bought.id)).body, /<dt>Already refunded<\/dt><dd>\$1\.50<\/dd>/, 'the desk knows')
  t.equal(JSON.parse((await h.webhook(partial)).body).outcome, 'duplicate', 'a redelivery changes nothing')

  // An event that says the whole amount went back revokes, whatever its `refunded` flag says.
  const whole = h.stripe.buildEvent('charge.refunded', { ...partial.data.object, amount_refunded: 500, refunded: false })
  t.equal(JSON.parse((await h.webhook(whole)).body).outcome, 'refunded')
  t.equal((await order(h, bought.id)).status, 'refunded')
  t.equal((await order(h, bought.id)).refunded_cents, 500)
  t.same(await libraryRows(h), [])
  // An older total arriving late takes nothing back.
  const late = h.stripe.buildEvent('charge.refunded', { ...partial.data.object, amount_refunded: 150, refunded: false })
  t.equal(JSON.parse((await h.webhook(late)).body).outcome, 'already_refunded')
  t.equal((await order(h, bought.id)).refunded_cents, 500)
})

t.test('the buyer is emailed a refund notice once per refund: amount, whether access ended, from the desk or from Stripe', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const { h } = s
  const { sessionId, order: bought } = await buy(s)
  await smtp.waitFor(1) // the receipt
  const notices = () => smtp.messages().filter((m) => m.subject.startsWith('Your refund'))

  t.equal((await submit(h, s.admin, bought.id, { amount: '2.00' })).statusCode, 303)
  await smtp.waitFor(2)
  // Stripe's event for it, and a double click's second answer, send nothing more.
  await h.webhook(lastEvent(h, 'charge.refunded'))
  await submit(h, s.admin, bought.id, { amount: '2.00', refunded: '0.00' })
  await sleep(300)
  t.equal(notices().length, 1, 'one notice for one refund')
  const partial = notices()[0]!
  t.same(partial.envelope.to, ['reader@example.com'])
  t.equal(partial.subject, 'Your refund from PDF Market: A Field Guide to Testing')
  for (const body of [partial.text, partial.html!]) {
    t.match(body, 'You were refunded $2.00')
    t.match(body, bought.id)
    t.match(body, /You keep the PDF/)
    t.notMatch(body, /access to the PDF has ended/)
  }
  t.match(partial.text, /Refunded in all: \$2\.00 of \$5\.00/)

  // The rest, refunded in Stripe's dashboard: learnt from charge.refunded, told once.
  await h.stripe.refund(sessionId)
  const event = lastEvent(h, 'charge.refunded')
  t.equal(JSON.parse((await h.webhook(event)).body).outcome, 'refunded')
  await smtp.waitFor(3)
  await h.webhook(event)
  await sleep(300)
  t.equal(notices().length, 2, 'one notice more, for the refund Stripe told of')
  const last = notices()[0]!
  for (const body of [last.text, last.html!]) {
    t.match(body, 'You were refunded $3.00')
    t.match(body, /access to the PDF has ended/)
    t.match(body, `/content/${s.slug}`, 'a way to buy it again')
  }
  t.match(last.text, /Refunded in all: \$5\.00 of \$5\.00/)
  const rows = (await h.app.outbox.rows.forOrder(bought.id)).filter((row) => row.kind === 'refund')
  t.same(rows.map((row) => [row.refund_cents, row.access_kept]), [[200, 1], [300, 0]], 'the outbox keeps each refund')
})

t.test('a full refund from the desk sends one notice saying access ended', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const { order: bought } = await buy(s)
  await smtp.waitFor(1)
  t.equal((await submit(s.h, s.admin, bought.id)).statusCode, 303)
  await smtp.waitFor(2)
  await s.h.webhook(lastEvent(s.h, 'charge.refunded'))
  t.equal((await submit(s.h, s.admin, bought.id)).statusCode, 303, 'again: nothing to do')
  await sleep(300)
  const notices = smtp.messages().filter((m) => m.subject.startsWith('Your refund'))
  t.equal(notices.length, 1)
  t.match(notices[0]!.text, 'You were refunded $5.00')
  t.match(notices[0]!.text, 'Your access to the PDF has ended')
})

t.test('after a refund the download says the purchase was refunded, and the item page offers it again', async (t) => {
  const s = await shop(t)
  const { h } = s
  const stranger = await h.signIn({ email: 'carol@example.com', sub: 'carol' })
  const never = await h.request(stranger, { url: `/content/${s.slug}/download` })
  t.equal(never.statusCode, 403)
  t.match(never.body, 'You do not own &quot;A Field Guide to Testing&quot; yet', 'someone who never bought it')
  t.notMatch((await h.request(stranger, { url: `/content/${s.slug}` })).body, 'Your purchase was refunded')

  const { order: bought } = await buy(s)
  t.equal((await submit(h, s.admin, bought.id)).statusCode, 303)
  const refused = await h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(refused.statusCode, 403)
  t.match(refused.body, 'Your purchase of &quot;A Field Guide to Testing&quot; was refunded, so it can no longer be downloaded. You can buy it again from its page.')
  t.notMatch(refused.body, 'do not own')
  t.match(refused.body, `<a class="button" href="/content/${s.slug}">Go to the item</a>`, 'a way to the item')
  const page = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.match(page.body, 'Your purchase was refunded.')
  t.match(page.body, `action="/checkout/${s.slug}"`, 'the Buy form')

  // Bought again: the page is a buyer's page again.
  await buy(s)
  const owned = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.notMatch(owned.body, 'Your purchase was refunded')
  t.equal(await download(s), 200)
})

t.test('the Items page and the dashboard agree: one paid and one refunded order are 2 sales, 1 refund and $5.00 net on both', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: refunded } = await buy(s)
  t.equal((await submit(h, s.admin, refunded.id)).statusCode, 303)
  await buy(s)
  const items = await h.request(s.admin, { url: '/admin/content' })
  t.match(items.body, /A Field Guide to Testing[\s\S]*\$5\.00 · 2 sales · 1 refund · \$5\.00 net revenue/, 'the Items page')
  const dashboard = await h.request(s.admin, { url: '/admin' })
  t.match(dashboard.body, /A Field Guide to Testing<\/a><\/td>\s*<td data-label="Sales" class="num">2<\/td>\s*<td data-label="Refunds" class="num">1<\/td>\s*<td data-label="Net revenue" class="num">\$5\.00<\/td>/, 'the dashboard')

  // A partial refund counts against its sale on both pages too (another buyer's order).
  const bob = await h.signIn({ email: 'bob@example.com', sub: 'bob' })
  const { sessionId, order: third } = await startCheckout(h, bob, s.slug)
  await h.stripe.pay(sessionId)
  t.match((await successPage(h, bob, sessionId)).body, 'Thank you')
  t.equal((await submit(h, s.admin, third.id, { amount: '1.50' })).statusCode, 303)
  t.match((await h.request(s.admin, { url: '/admin/content' })).body, /3 sales · 2 refunds · \$8\.50 net revenue/)
  t.match((await h.request(s.admin, { url: '/admin' })).body, /<td data-label="Sales" class="num">3<\/td>\s*<td data-label="Refunds" class="num">2<\/td>\s*<td data-label="Net revenue" class="num">\$8\.50<\/td>/)
  const figures = await h.app.sales.dashboard()
  t.same(figures.windows.all, { gross: 1500, refunded: 650, net: 850, sales: 3 }, 'the revenue cards count the partial refund')
})
