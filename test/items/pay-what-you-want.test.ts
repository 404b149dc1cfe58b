import t from 'tap'
import { edit, item } from '../helpers/items.js'
import { CookieJar, type Harness, type TestContext } from '../helpers/build.js'
import { libraryRows, orders, paymentState, session, sessionEvent, type Shop, shop, successPage } from '../helpers/purchase.js'

/** A shop whose $5.00 item is made pay what you want from `minimum` through the edit form. */
async function pwywShop (t: TestContext, minimum: string, env: Record<string, string> = {}): Promise<Shop> {
  const s = await shop(t, env)
  const saved = await edit(s.h, s.admin, s.slug, { title: 'A Field Guide to Testing', price: '5.00', extra: { pay_what_you_want: '1', min_price: minimum } })
  if (saved.statusCode !== 303) throw new Error(`the edit answered ${saved.statusCode}: ${saved.body.slice(0, 300)}`)
  return s
}

/** POST /checkout/<slug> with the amount the buyer typed (none when undefined). */
async function buyAt (h: Harness, jar: CookieJar, slug: string, amount: string | undefined): Promise<Awaited<ReturnType<Harness['request']>>> {
  return await h.request(jar, { method: 'POST', url: `/checkout/${slug}`, form: { _csrf: await h.csrf(jar), ...(amount === undefined ? {} : { amount }) } })
}

t.test('the edit form stores pay what you want with its minimum, and refuses a minimum it cannot use', async (t) => {
  const s = await shop(t)
  const { h } = s
  const form = await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })
  t.match(form.body, 'name="pay_what_you_want"')
  t.match(form.body, 'name="min_price"')

  t.equal((await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', extra: { pay_what_you_want: '1', min_price: '2.00' } })).statusCode, 303)
  let row = await item(h, s.slug)
  t.equal(row.pay_what_you_want, 1)
  t.equal(row.min_price_cents, 200)
  t.equal(row.price_cents, 500, 'the price stays: it is the suggestion')
  t.match((await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })).body, /name="pay_what_you_want" value="1" checked/, 'the box comes back ticked')

  const before = await item(h, s.slug)
  const cases = [
    { name: 'a minimum above the price', min: '6.00', problem: /must not be more than the price/ },
    { name: 'three decimals', min: '2.005', problem: /The minimum must be a price in USD/ },
    { name: 'not a number', min: 'two', problem: /The minimum must be a price in USD/ },
    { name: 'no minimum', min: '', problem: /Type the least a buyer pays/ },
    { name: 'a decimal comma', min: '2,00', problem: /Type it with a dot, not a comma, and no currency sign, like 0\.50\./ },
    { name: 'a currency sign', min: '$2', problem: /Type it with a dot, not a comma, and no currency sign, like 0\.50\./ },
    { name: 'below the lowest charge', min: '0.10', problem: /at least \$0\.50/ }
  ]
  for (const { name, min, problem } of cases) {
    const response = await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', extra: { pay_what_you_want: '1', min_price: min } })
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.match(response.body, problem, `${name}: says why`)
    t.match(response.body, 'id="min_price-problem"', `${name}: on the field`)
    t.same(await item(h, s.slug), before, `${name}: nothing stored`)
  }
  const odd = await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', extra: { pay_what_you_want: 'yes', min_price: '1.00' } })
  t.equal(odd.statusCode, 400)
  t.match(odd.body, /either on \(1\) or off/)

  // The browser's form sends min_price whatever the box: without the box, a fixed price again.
  t.equal((await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', extra: { min_price: '2.00' } })).statusCode, 303)
  row = await item(h, s.slug)
  t.equal(row.pay_what_you_want, 0)
  t.equal(row.min_price_cents, 0)
})

t.test('a pay-what-you-want item shows "Pay what you want", its minimum and an amount field; the catalogue says "From"', async (t) => {
  const s = await pwywShop(t, '2.00')
  const { h } = s
  const page = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.equal(page.statusCode, 200)
  t.match(page.body, 'Pay what you want')
  t.match(page.body, 'from $2.00')
  t.match(page.body, /<input id="amount" name="amount" type="text" inputmode="decimal" pattern="[^"]+" placeholder="5.00" required autocomplete="off" value="5.00"/)
  t.match(page.body, 'Your price (USD)')
  t.match(page.body, 'At least $2.00.')
  t.match(page.body, />Pay<\/button>/)
  t.match(page.body, /name="_csrf" value="[^"]+"/)
  t.notMatch(page.body, 'name="email"', 'Stripe collects the email itself')

  const catalogue = await h.request(null, { url: '/' })
  t.match(catalogue.body, 'From $2.00')
  const list = await h.request(s.admin, { url: '/admin/content' })
  t.match(list.body, 'From $2.00')
})

t.test('an amount below the minimum, with three decimals, huge, empty or not a number is answered 400 and makes no order', async (t) => {
  const s = await pwywShop(t, '2.00')
  const { h } = s
  const before = await paymentState(h)
  const cases: Array<[string, string | undefined, RegExp]> = [
    ['below the minimum', '1.99', /The least you can pay for this is \$2\.00/],
    ['three decimals', '2.005', /at most 2 decimals/],
    ['huge', '99999999', /more than we can charge at once/],
    ['empty', '', /Type the amount you want to pay/],
    ['left out', undefined, /Type the amount you want to pay/],
    ['not a number', 'five', /Type the amount as a number/],
    ['negative', '-3.00', /Type the amount as a number/],
    ['a decimal comma', '7,25', /Type the amount as a number with at most 2 decimals, with a dot, not a comma, and no currency sign, like 2\.00\./],
    ['a currency sign', '$7', /with a dot, not a comma, and no currency sign, like 2\.00\./]
  ]
  for (const [name, amount, problem] of cases) {
    const response = await buyAt(h, s.reader, s.slug, amount)
    t.equal(response.statusCode, 400, `${name}: 400`)
    t.match(response.body, problem, `${name}: says why`)
  }
  t.same(await paymentState(h), before, 'no order, nothing granted')
  t.equal(h.stripe.sessions.size, 0, 'Stripe was never asked')
})

t.test('an amount above the minimum makes an order at that amount, and paying it grants the item', async (t) => {
  const s = await pwywShop(t, '2.00')
  const { h } = s
  const response = await buyAt(h, s.reader, s.slug, '7.25')
  t.equal(response.statusCode, 303)
  const sessionId = (response.headers.location as string).slice(`${h.stripe.url}/pay/`.length)
  const [created] = await orders(h)
  t.equal(created!.amount_cents, 725, 'the order is for what the buyer typed')
  t.equal(session(h, sessionId).amount_total, 725, 'and so is the Checkout Session')
  await h.stripe.pay(sessionId)
  const thanks = await successPage(h, s.reader, sessionId)
  t.equal(thanks.statusCode, 200)
  t.match(thanks.body, 'Thank you')
  t.same((await libraryRows(h)).map((row) => row.order_id), [created!.id], 'granted')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)
})

t.test('pay what you want from 0: free for signed-in readers, with a tip form; 0 takes it without paying', async (t) => {
  const s = await pwywShop(t, '0')
  const { h } = s
  const page = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.match(page.body, 'Free, tips welcome')
  t.match(page.body, 'Download PDF', 'the download, as for free items')
  t.match(page.body, 'Leave a tip')
  t.match(page.body, /<form method="post" action="\/checkout\/[^"]+" class="buy-form tip-form"/)
  t.match(page.body, 'name="amount"')
  t.match((await h.request(null, { url: '/' })).body, 'Pay what you want')

  const guest = await h.request(null, { url: `/content/${s.slug}` })
  t.match(guest.body, 'Sign in to download')

  const taken = await buyAt(h, s.reader, s.slug, '0')
  t.equal(taken.statusCode, 303)
  t.equal(taken.headers.location, `/content/${s.slug}`)
  t.equal((await orders(h)).length, 0, 'no order for nothing')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200, 'the reader downloads it')

  // A tip is a paid order like any other.
  const tip = await buyAt(h, s.reader, s.slug, '3.00')
  t.equal(tip.statusCode, 303)
  t.match(tip.headers.location, `${h.stripe.url}/pay/`)
  t.equal((await orders(h))[0]!.amount_cents, 300)
})

t.test('with Mollie, a signed-out guest\'s Buy form asks for the email; Payment Links are shown as a Stripe feature', async (t) => {
  const env = { PAYMENT_PROVIDER: 'mollie', MOLLIE_API_KEY: 'test_xxxxxxxxxxxxxxxxxxxxxxxx', MOLLIE_API_URL: 'https://127.0.0.1:9/v2/' }
  const s = await shop(t, env)
  const { h } = s
  const page = await h.request(null, { url: `/content/${s.slug}` })
  t.equal(page.statusCode, 200)
  t.match(page.body, /<input id="email" name="email" type="email" required autocomplete="email"/)
  t.match(page.body, 'Your receipt and download link go here.')
  t.match(page.body, 'Secure checkout with Mollie')
  t.notMatch((await h.request(s.reader, { url: `/content/${s.slug}` })).body, 'name="email"', 'a signed-in reader has an address already')

  const form = await h.request(s.admin, { url: `/admin/content/${s.slug}/edit` })
  t.match(form.body, /<input id="payment_link_id" name="payment_link_id" type="text" disabled/)
  t.match(form.body, 'Payment Links are a Stripe feature')
  const before = await item(h, s.slug)
  const posted = await edit(h, s.admin, s.slug, { title: 'A Field Guide to Testing', extra: { payment_link_id: 'plink_abc123' } })
  t.equal(posted.statusCode, 400)
  t.match(posted.body, 'Payment Links are a Stripe feature')
  t.same(await item(h, s.slug), before, 'nothing stored')
})

t.test('revenue counts what was paid: a promotion\'s discount leaves the dashboard, item list and CSV', async (t) => {
  const s = await pwywShop(t, '2.00')
  const { h } = s
  const response = await buyAt(h, s.reader, s.slug, '5.00')
  const sessionId = (response.headers.location as string).slice(`${h.stripe.url}/pay/`.length)
  const order = (await orders(h))[0]!
  await h.stripe.pay(sessionId)
  t.equal((await successPage(h, s.reader, sessionId)).statusCode, 200)
  await h.app.db.updateTable('orders').set({ discount_cents: 100 }).where('id', '=', order.id).execute()

  const dashboard = await h.request(s.admin, { url: '/admin' })
  t.match(dashboard.body, '$4.00')
  t.notMatch(dashboard.body, '$5.00', 'the undiscounted amount is nowhere')
  t.match((await h.request(s.admin, { url: '/admin/content' })).body, '$4.00 net revenue')
  const csv = (await h.request(s.admin, { url: '/admin/orders.csv' })).body.split('\r\n')
  t.equal(csv[0], 'order_id,created_at,paid_at,status,item_slug,item_title,buyer_email,amount,currency,payment_intent', 'the header as the contract says')
  t.match(csv[1], /,4\.00,usd,/)
  const detail = await h.request(s.admin, { url: `/admin/orders/${order.id}` })
  t.match(detail.body, 'Promotion: −$1.00')
  t.match(detail.body, 'Paid through Stripe')
  t.match(detail.body, '<dt>Checkout</dt>')
  t.match(detail.body, 'all that is left ($4.00)')
  t.match((await h.request(s.admin, { url: `/admin/orders/${order.id}/refund` })).body, /<dt>Left to refund<\/dt><dd><strong>\$4\.00<\/strong>/, 'what the buyer paid is what can be refunded')
})

t.test('a guest cannot get a PWYW item below its minimum either', async (t) => {
  const s = await pwywShop(t, '2.00')
  const { h } = s
  const page = await h.request(null, { url: `/content/${s.slug}` })
  const jar = new CookieJar().update(page)
  const token = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!
  const response = await h.request(jar, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: token, amount: '1.00' } })
  t.equal(response.statusCode, 400)
  t.equal((await orders(h)).length, 0)
})

/** The store setting that offers promotion codes at Checkout. */
async function allowPromotionCodes (h: Harness): Promise<void> {
  const current = h.app.settings.current()
  const saved = await h.app.settings.save({
    store_name: current.storeName, tagline: current.tagline, contact_email: current.contactEmail, refund_policy: current.refundPolicy, allow_promotion_codes: '1'
  })
  if (saved.settings === undefined) throw new Error('settings refused')
}

t.test('a pay-what-you-want item\'s Checkout Session never allows promotion codes, even with the store setting on', async (t) => {
  const s = await pwywShop(t, '3.00')
  const { h } = s
  await allowPromotionCodes(h)
  const response = await buyAt(h, s.reader, s.slug, '3.00')
  t.equal(response.statusCode, 303)
  const sessionId = (response.headers.location as string).slice(`${h.stripe.url}/pay/`.length)
  t.notOk(session(h, sessionId).allow_promotion_codes, 'no allow_promotion_codes for a pay-what-you-want item')

  // A fixed-price item of the same store still offers them.
  const fixed = await s.h.upload(s.admin, { title: 'Fixed Price', price: '4.00' })
  const other = await h.request(s.reader, { method: 'POST', url: '/checkout/fixed-price', form: { _csrf: await h.csrf(s.reader) } })
  t.equal(fixed.statusCode, 303)
  t.equal(other.statusCode, 303)
  t.equal(session(h, (other.headers.location as string).slice(`${h.stripe.url}/pay/`.length)).allow_promotion_codes, true, 'a fixed price keeps them')
})

t.test('a completed session whose total a discount took below the item\'s minimum grants nothing, by redirect or webhook', async (t) => {
  const s = await pwywShop(t, '3.00')
  const { h } = s
  const discounted = { amount_subtotal: 300, amount_total: 240, total_details: { amount_discount: 60, amount_shipping: 0, amount_tax: 0 } }

  // The success redirect: Stripe says $3.00 less $0.60.
  const response = await buyAt(h, s.reader, s.slug, '3.00')
  const sessionId = (response.headers.location as string).slice(`${h.stripe.url}/pay/`.length)
  await h.stripe.pay(sessionId)
  Object.assign(session(h, sessionId), discounted)
  const page = await successPage(h, s.reader, sessionId)
  t.notMatch(page.body, 'Thank you', 'no thank-you page')
  const held = (await orders(h))[0]!
  t.equal(held.status, 'review', 'the order is held for review')
  t.same(await libraryRows(h), [], 'nothing granted')
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 403, 'no download')

  // The webhook alone, for another buyer.
  const jar = await h.signIn({ email: 'other@example.com', sub: 'other' })
  const second = await buyAt(h, jar, s.slug, '3.00')
  const secondId = (second.headers.location as string).slice(`${h.stripe.url}/pay/`.length)
  const event = sessionEvent(h, 'checkout.session.completed', secondId, { status: 'complete', payment_status: 'paid', payment_intent: 'pi_below_minimum', ...discounted })
  const hook = await h.webhook(event)
  t.equal(hook.statusCode, 200)
  t.equal(hook.json().outcome, 'mismatch')
  t.same(await libraryRows(h), [], 'nothing granted')
  t.same((await orders(h)).map((o) => o.status), ['review', 'review'])
})
