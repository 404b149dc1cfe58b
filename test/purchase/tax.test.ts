// backends: sqlite, postgres-s3
// Stripe Tax (DESIGN.md "Tax and invoices (Stripe)"): the settings, the Checkout Session's tax
// parameters, the grant's amount check for exclusive and inclusive tax (discounts included), what
// the order records (tax, country, tax ids, invoice), the receipt and thank-you page, revenue net
// of tax, refunds of taxed orders, a mismatched tax held for review, and /admin/tax.csv.
import t from 'tap'
import type { CookieJar, Harness, TestContext } from '../helpers/build.js'
import { mollieShop } from '../helpers/mollie-shop.js'
import { smtpServer } from '../helpers/smtp.js'
import { lastEvent, libraryRows, order, sessionEvent, shop, type Shop, startCheckout, successPage } from '../helpers/purchase.js'

const TAX_HEADER = 'order_id,paid_at,country,buyer_tax_id,currency,net,tax,total,refunded'

interface TaxForm { automatic_tax?: string, tax_behavior?: string, tax_code?: string, invoices?: string, seller_name?: string, seller_address?: string, seller_tax_id?: string }

async function saveSettings (h: Harness, admin: CookieJar, tax: TaxForm, extra: Record<string, string> = {}) {
  return await h.request(admin, {
    method: 'POST',
    url: '/admin/settings',
    form: { _csrf: await h.csrf(admin), store_name: 'Paper Lantern', tagline: '', contact_email: '', refund_policy: '', ...extra, ...(tax as Record<string, string>) }
  })
}

async function taxedShop (t: TestContext, tax: TaxForm, env: Record<string, string> = {}): Promise<Shop> {
  const s = await shop(t, env)
  const saved = await saveSettings(s.h, s.admin, { automatic_tax: '1', ...tax })
  if (saved.statusCode !== 303) throw new Error(`settings answered ${saved.statusCode}: ${saved.body.slice(0, 300)}`)
  return s
}

/** The form Stripe's SDK sent to create the order's session (bracket keys as sent). */
function createParams (h: Harness, orderId: string): URLSearchParams {
  const request = h.stripe.requests.find((r) => r.method === 'POST' && r.path === '/v1/checkout/sessions' && new URLSearchParams(r.rawBody).get('client_reference_id') === orderId)
  if (request === undefined) throw new Error(`no session was created for order ${orderId}`)
  return new URLSearchParams(request.rawBody)
}

async function csv (h: Harness, jar: CookieJar, query = ''): Promise<{ status: number, lines: string[], body: string }> {
  const response = await h.request(jar, { url: `/admin/tax.csv${query}` })
  return { status: response.statusCode, lines: response.body.split('\r\n').filter((line) => line !== ''), body: response.body }
}

t.test('settings: the tax fields are saved, shown, checked; with Mollie the page says prices are charged as entered', async (t) => {
  const s = await shop(t)
  const page = await s.h.request(s.admin, { url: '/admin/settings' })
  for (const name of ['automatic_tax', 'tax_behavior', 'tax_code', 'invoices', 'seller_name', 'seller_address', 'seller_tax_id']) t.match(page.body, `name="${name}"`, `the form has ${name}`)
  t.match(page.body, 'value="txcd_10302000"', 'the tax code defaults to e-books')
  t.match(page.body, /registering .* filing the returns stay your job/, 'says what stays the seller\'s job')

  const bad = await saveSettings(s.h, s.admin, { automatic_tax: 'yes', tax_behavior: 'sometimes', tax_code: 'ebooks', seller_tax_id: '<script>' })
  t.equal(bad.statusCode, 400)
  t.match(bad.body, 'Automatic tax is either on (1) or off')
  t.match(bad.body, 'Prices either include tax (inclusive)')
  t.match(bad.body, 'and eight digits, like txcd_10302000')
  t.match(bad.body, 'A tax id is letters and digits')
  t.notMatch(bad.body, '<script>', 'hostile text comes back escaped')
  t.equal(s.h.app.settings.current().tax.automaticTax, false, 'nothing was saved')

  const saved = await saveSettings(s.h, s.admin, {
    automatic_tax: '1', tax_behavior: 'exclusive', tax_code: 'txcd_10000000', invoices: '1', seller_name: 'Лампа Press', seller_address: 'Hauptstraße 1\r\n\r\n10115 Berlin  ', seller_tax_id: 'DE 123 456 789'
  })
  t.equal(saved.statusCode, 303)
  t.same(s.h.app.settings.current().tax, {
    automaticTax: true, taxBehavior: 'exclusive', taxCode: 'txcd_10000000', invoices: true, sellerName: 'Лампа Press', sellerAddress: 'Hauptstraße 1\n10115 Berlin', sellerTaxId: 'DE 123 456 789'
  }, 'stored tidied; Cyrillic and umlauts kept')
  const again = await s.h.request(s.admin, { url: '/admin/settings' })
  t.match(again.body, /name="automatic_tax" value="1" checked/)
  t.match(again.body, /value="exclusive" checked/)

  const mollie = await mollieShop(t)
  const molliePage = await mollie.h.request(mollie.admin, { url: '/admin/settings' })
  t.match(molliePage.body, 'Mollie, which does not compute tax: buyers are charged the prices as you entered them')
  t.equal((await saveSettings(mollie.h, mollie.admin, { automatic_tax: '1', tax_behavior: 'exclusive' })).statusCode, 303)
  const response = await mollie.h.request(mollie.reader, { method: 'POST', url: `/checkout/${mollie.slug}`, form: { _csrf: await mollie.h.csrf(mollie.reader) } })
  t.equal(response.statusCode, 303)
  const pending = await mollie.h.app.db.selectFrom('orders').selectAll().executeTakeFirstOrThrow()
  t.equal(pending.tax_behavior, null, 'with Mollie the price is charged as entered: no tax asked, none added')
})

t.test('exclusive tax: the session asks Stripe Tax, the grant checks subtotal, discount and tax, the order records them', async (t) => {
  const smtp = await smtpServer(t)
  const s = await taxedShop(t, { tax_behavior: 'exclusive', invoices: '1', seller_name: 'Paper Lantern Ltd', seller_address: '1 Quay St\nDublin', seller_tax_id: 'IE1234567T' }, { SMTP_URL: smtp.url })
  const { sessionId, order: pending } = await startCheckout(s.h, s.reader, s.slug)
  t.equal(pending.tax_behavior, 'exclusive', 'the order keeps how its price was sent')
  const sent = createParams(s.h, pending.id)
  t.equal(sent.get('automatic_tax[enabled]'), 'true')
  t.equal(sent.get('tax_id_collection[enabled]'), 'true')
  t.equal(sent.get('billing_address_collection'), 'required')
  t.equal(sent.get('line_items[0][price_data][tax_behavior]'), 'exclusive')
  t.equal(sent.get('line_items[0][price_data][product_data][tax_code]'), 'txcd_10302000')
  t.equal(sent.get('invoice_creation[enabled]'), 'true')
  t.equal(sent.get('invoice_creation[invoice_data][custom_fields][0][name]'), 'Seller tax id')
  t.equal(sent.get('invoice_creation[invoice_data][custom_fields][0][value]'), 'IE1234567T', 'the invoice carries the seller\'s tax id')

  await s.h.stripe.pay(sessionId, 'card', { address: { country: 'DE', postal_code: '10115', city: 'Berlin' } })
  const session = s.h.stripe.sessions.get(sessionId)!
  t.equal(session.amount_subtotal, 500)
  t.equal(session.total_details.amount_tax, 35, 'German e-book VAT 7% on top')
  t.equal(session.amount_total, 535)
  const page = await successPage(s.h, s.reader, sessionId)
  t.match(page.body, 'Thank you')
  t.match(page.body, /Net<\/dt><dd>\$5\.00/)
  t.match(page.body, /Tax \(Germany\)<\/dt><dd>\$0\.35/)
  t.match(page.body, /Total paid<\/dt><dd>\$5\.35/)
  t.match(page.body, /href="[^"]+\/i\/in_[^"]+"[^>]*>View your invoice/, 'the thank-you page links Stripe\'s invoice')
  const paid = await order(s.h, pending.id)
  t.equal(paid.status, 'paid')
  t.equal(paid.tax_cents, 35)
  t.equal(paid.buyer_country, 'DE')
  t.equal(paid.buyer_tax_ids, null)
  t.match(paid.invoice_id, /^in_/)
  t.equal((await s.h.webhook(lastEvent(s.h, 'checkout.session.completed'))).statusCode, 200)
  t.equal((await libraryRows(s.h)).length, 1, 'granted once')

  const [receipt] = await smtp.waitFor(1)
  t.match(receipt!.text, /Net: +\$5\.00/)
  t.match(receipt!.text, /Tax: +\$0\.35 \(Germany\)/)
  t.match(receipt!.text, /Total paid: +\$5\.35/)
  t.match(receipt!.text, 'Paper Lantern Ltd\n1 Quay St\nDublin\nTax id: IE1234567T', 'the seller\'s name, address and tax id')
  t.match(receipt!.text, /Your invoice: http:\/\/[^\s]+\/i\/in_/)
  t.match(receipt!.html, 'View your invoice')

  const report = await csv(s.h, s.admin)
  t.equal(report.lines[0], TAX_HEADER, 'the header exactly')
  t.equal(report.lines.length, 2)
  t.match(report.lines[1], new RegExp(`^${pending.id},\\d{4}-\\d\\d-\\d\\dT[^,]+,DE,,usd,5\\.00,0\\.35,5\\.35,0\\.00$`))
  const orders = await s.h.request(s.admin, { url: '/admin/orders.csv' })
  t.match(orders.body, ',5.35,usd,', 'the orders CSV says what the buyer paid')
  const dashboard = await s.h.request(s.admin, { url: '/admin' })
  t.match(dashboard.body, /Net: <\/span>\$5\.00/, 'revenue is net of tax')
  t.match(dashboard.body, /Germany \(DE\)<\/td>\s*<td data-label="Sales" class="num">1<\/td>\s*<td data-label="Net" class="num">\$5\.00<\/td>\s*<td data-label="Tax" class="num">\$0\.35/, 'the tax per country and quarter')
})

t.test('inclusive tax: the price includes it; a business buyer\'s EU VAT id is recorded, reverse charged, on the receipt', async (t) => {
  const smtp = await smtpServer(t)
  const s = await taxedShop(t, { tax_behavior: 'inclusive' }, { SMTP_URL: smtp.url })
  const inclusive = await startCheckout(s.h, s.reader, s.slug)
  t.equal(createParams(s.h, inclusive.order.id).get('line_items[0][price_data][tax_behavior]'), 'inclusive')
  t.equal(createParams(s.h, inclusive.order.id).get('invoice_creation[enabled]'), null, 'no invoice unless asked')
  await s.h.stripe.pay(inclusive.sessionId, 'card', { address: { country: 'FR' } })
  t.equal(s.h.stripe.sessions.get(inclusive.sessionId)!.amount_total, 500, 'the buyer pays the price shown')
  t.equal(s.h.stripe.sessions.get(inclusive.sessionId)!.total_details.amount_tax, 26, 'French e-book VAT 5.5% inside it')
  await successPage(s.h, s.reader, inclusive.sessionId)
  const french = await order(s.h, inclusive.order.id)
  t.equal(french.status, 'paid')
  t.equal(french.tax_cents, 26)
  t.equal(french.buyer_country, 'FR')

  // A second reader, buying for their business with a German VAT id: reverse charge, no tax.
  const business = await s.h.signIn({ email: 'office@example.de', sub: 'business' })
  const b2b = await startCheckout(s.h, business, s.slug)
  await s.h.stripe.pay(b2b.sessionId, 'card', { address: { country: 'DE' }, taxId: 'de 123.456.789', businessName: 'Büro GmbH' })
  await s.h.webhook(lastEvent(s.h, 'checkout.session.completed'))
  const german = await order(s.h, b2b.order.id)
  t.equal(german.status, 'paid', 'granted by the webhook')
  t.equal(german.tax_cents, 0)
  t.same(JSON.parse(german.buyer_tax_ids!), [{ type: 'eu_vat', value: 'DE123456789' }], 'the tax id as Stripe normalised it')
  const mails = await smtp.waitFor(2)
  const receipt = mails.find((m) => m.to.includes('office@example.de'))!
  t.match(receipt.text, 'Your tax id: DE123456789')
  t.match(receipt.text, 'reverse charge')
  t.match(receipt.text, /Net: +\$5\.00\nTax: +\$0\.00/)

  const orderPage = await s.h.request(s.admin, { url: `/admin/orders/${b2b.order.id}` })
  t.match(orderPage.body, /<dt>Tax<\/dt><dd>\$0\.00 <span class="muted">included in the price, Germany/, 'the order page shows the tax and the country')
  t.match(orderPage.body, /<dt>Buyer's tax id<\/dt><dd>DE123456789/)
  const report = await csv(s.h, s.admin)
  t.equal(report.lines.length, 3)
  t.ok(report.lines.some((line) => line.includes(',FR,,usd,4.74,0.26,5.00,0.00')), 'inclusive: net is the price less the tax in it')
  t.ok(report.lines.some((line) => line.includes(',DE,DE123456789,usd,5.00,0.00,5.00,0.00')), 'the buyer\'s tax id in its column')
})

t.test('a discount with exclusive tax: granted at subtotal - discount + tax; below a changed total: review, nothing granted', async (t) => {
  const s = await taxedShop(t, { tax_behavior: 'exclusive' }, {})
  const current = s.h.app.settings.current()
  await s.h.app.settings.save({ store_name: current.storeName, tagline: '', contact_email: '', refund_policy: '', allow_promotion_codes: '1', automatic_tax: '1', tax_behavior: 'exclusive' })
  s.h.stripe.createPromotionCode({ code: 'LAUNCH20', percentOff: 20 })
  const discounted = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(discounted.sessionId, 'card', { promotionCode: 'LAUNCH20', address: { country: 'DE' } })
  const session = s.h.stripe.sessions.get(discounted.sessionId)!
  t.equal(session.total_details.amount_discount, 100)
  t.equal(session.total_details.amount_tax, 28, '7% of 4.00')
  t.equal(session.amount_total, 428)
  await successPage(s.h, s.reader, discounted.sessionId)
  const paid = await order(s.h, discounted.order.id)
  t.equal(paid.status, 'paid')
  t.equal(paid.discount_cents, 100)
  t.equal(paid.tax_cents, 28)

  // Another buyer; the event says the tax was added but the total does not include it.
  const other = await s.h.signIn({ email: 'other@example.com', sub: 'other' })
  const tampered = await startCheckout(s.h, other, s.slug)
  await s.h.stripe.pay(tampered.sessionId, 'card', { address: { country: 'DE' } })
  const forged = sessionEvent(s.h, 'checkout.session.completed', tampered.sessionId, { amount_total: 500 })
  t.equal((await s.h.webhook(forged)).statusCode, 200)
  const held = await order(s.h, tampered.order.id)
  t.equal(held.status, 'review', 'a total that does not add up is held for review')
  t.equal((await libraryRows(s.h)).filter((row) => row.order_id === tampered.order.id).length, 0, 'nothing granted')
  // The real event (and the redirect) change nothing now: the order waits for the creator.
  await s.h.webhook(lastEvent(s.h, 'checkout.session.completed'))
  t.equal((await order(s.h, tampered.order.id)).status, 'review')
  const inclusiveForged = sessionEvent(s.h, 'checkout.session.completed', tampered.sessionId, { total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: -5 } })
  t.equal((await s.h.webhook(inclusiveForged)).statusCode, 200, 'a negative tax is answered, and changes nothing')
})

t.test('a taxed order refunded: all of what was paid goes back, access ends, revenue and tax fall to zero', async (t) => {
  const s = await taxedShop(t, { tax_behavior: 'exclusive' })
  const bought = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(bought.sessionId, 'card', { address: { country: 'NL' } })
  await successPage(s.h, s.reader, bought.sessionId)
  const paid = await order(s.h, bought.order.id)
  t.equal(paid.tax_cents, 45, 'Dutch e-book VAT 9%')
  // A partial refund from Stripe's dashboard first, then the rest.
  await s.h.stripe.refund(bought.sessionId, 109)
  await s.h.webhook(lastEvent(s.h, 'charge.refunded'))
  t.equal((await order(s.h, bought.order.id)).refunded_cents, 109)
  t.equal((await order(s.h, bought.order.id)).status, 'paid', 'a partial refund keeps access')
  let dashboard = await s.h.request(s.admin, { url: '/admin' })
  t.match(dashboard.body, /Net: <\/span>\$4\.00/, 'what stayed paid (4.36) less its tax (0.36)')
  const page = await s.h.request(s.admin, { url: `/admin/orders/${bought.order.id}/refund` })
  const form = { _csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!, refunded: /name="refunded" value="([^"]*)"/.exec(page.body)![1]! }
  t.match(page.body, '4.36', 'the rest to refund includes the tax')
  const refund = await s.h.request(s.admin, { method: 'POST', url: `/admin/orders/${bought.order.id}/refund`, form })
  t.equal(refund.statusCode, 303)
  const refunded = await order(s.h, bought.order.id)
  t.equal(refunded.status, 'refunded')
  t.equal(refunded.refunded_cents, 545, 'all of what was paid, tax included')
  t.equal((await libraryRows(s.h)).length, 0, 'access ended')
  dashboard = await s.h.request(s.admin, { url: '/admin' })
  t.match(dashboard.body, /Net: <\/span>\$0\.00/)
  t.match(dashboard.body, /Netherlands \(NL\)<\/td>\s*<td data-label="Sales" class="num">1<\/td>\s*<td data-label="Net" class="num">\$0\.00<\/td>\s*<td data-label="Tax" class="num">\$0\.00/, 'a refund takes its tax back')
  const report = await csv(s.h, s.admin)
  t.match(report.lines[1], /,NL,,usd,5\.00,0\.45,5\.45,5\.45$/, 'the report keeps the sale with what was refunded')
})

t.test('/admin/tax.csv: admins only, a day range both ends included, a bad day is a clear 400', async (t) => {
  const s = await taxedShop(t, { tax_behavior: 'inclusive' })
  const { sessionId } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId, 'card', { address: { country: 'IT' } })
  await successPage(s.h, s.reader, sessionId)
  const today = new Date().toISOString().slice(0, 10)
  const response = await s.h.request(s.admin, { url: `/admin/tax.csv?from=${today}&to=${today}` })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], 'text/csv')
  t.match(response.headers['content-disposition'], `attachment; filename="tax-from-${today}-to-${today}.csv"`)
  t.equal(response.body.split('\r\n').filter((l) => l !== '').length, 2, 'today\'s sale is in a range of today alone')
  t.equal((await csv(s.h, s.admin, '?to=2000-01-01')).lines.length, 1, 'a range before it: the header alone')
  t.equal((await csv(s.h, s.admin, '?from=2999-01-01')).lines.length, 1)
  for (const bad of ['2026-02-30', '31/12/2026', 'yesterday', '2026-1-1']) {
    const refused = await csv(s.h, s.admin, `?from=${encodeURIComponent(bad)}`)
    t.equal(refused.status, 400, `from=${bad}`)
    t.match(refused.body, 'YYYY-MM-DD')
  }
  t.equal((await csv(s.h, s.admin, '?from=2026-12-31&to=2026-01-01')).status, 400, 'to before from')
  t.equal((await csv(s.h, s.reader)).status, 403, 'readers may not read it')
  t.not((await csv(s.h, null as unknown as CookieJar)).status, 200, 'nor strangers')
})

t.test('settings changed between Buy and payment: the order is checked as it was asked, and a new Buy asks afresh', async (t) => {
  const s = await taxedShop(t, { tax_behavior: 'exclusive' })
  const first = await startCheckout(s.h, s.reader, s.slug)
  await saveSettings(s.h, s.admin, { automatic_tax: '1', tax_behavior: 'inclusive' })
  const again = await startCheckout(s.h, s.reader, s.slug)
  t.not(again.sessionId, first.sessionId, 'an open checkout asked another way is not resumed')
  t.equal(again.order.tax_behavior, 'inclusive')
  await s.h.stripe.pay(first.sessionId, 'card', { address: { country: 'DE' } })
  await successPage(s.h, s.reader, first.sessionId)
  const paid = await order(s.h, first.order.id)
  t.equal(paid.status, 'paid', 'the first checkout, exclusive, is checked as exclusive')
  t.equal(paid.tax_cents, 35)
})
