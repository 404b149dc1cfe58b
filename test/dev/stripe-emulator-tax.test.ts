// Stripe Tax and invoices in the Stripe emulator, through the official SDK (as the app talks to
// Stripe) and through its hosted pages (as a buyer's browser does): rates by country, exclusive
// and inclusive prices, discounts spread over several lines, reverse charge, tax ids, invoices.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Stripe from 'stripe'
import t from 'tap'
import { type StripeEmulator, startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import type { TestContext } from '../helpers/build.js'

const SECRET = 'whsec_test_tax'

async function emulator (t: TestContext, stateFile?: string): Promise<{ emu: StripeEmulator, stripe: Stripe }> {
  const emu = await startStripeEmulator({ webhookSecret: SECRET, retryDelaysMs: [], settleDelayMs: 60_000, ...(stateFile === undefined ? {} : { stateFile }) })
  t.teardown(async () => { await emu.close() })
  const url = new URL(emu.url)
  const stripe = new Stripe('sk_test_tax', { protocol: 'http', host: url.hostname, port: Number(url.port), maxNetworkRetries: 0 })
  return { emu, stripe }
}

type Behavior = 'exclusive' | 'inclusive'
const ebook = (unitAmount: number, behavior: Behavior | null = 'exclusive', name = 'Field Guide', currency = 'eur', quantity = 1): Stripe.Checkout.SessionCreateParams.LineItem => ({
  price_data: { currency, unit_amount: unitAmount, ...(behavior === null ? {} : { tax_behavior: behavior }), product_data: { name, tax_code: 'txcd_10302000' } },
  quantity
})

const taxed = (lineItems: Stripe.Checkout.SessionCreateParams.LineItem[], extra: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams => ({
  mode: 'payment',
  line_items: lineItems,
  automatic_tax: { enabled: true },
  tax_id_collection: { enabled: true },
  billing_address_collection: 'required',
  invoice_creation: { enabled: true },
  client_reference_id: 'order-1',
  success_url: 'http://127.0.0.1:9/checkout/success?session_id={CHECKOUT_SESSION_ID}',
  cancel_url: 'http://127.0.0.1:9/checkout/cancel',
  ...extra
})

async function post (url: string, form: Record<string, string>): Promise<Response> {
  return await fetch(url, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' })
}

t.test('a new taxed session: Stripe\'s tax objects, no tax until the address is known, and pay() asks for one', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(1000)]))
  t.match(session, {
    automatic_tax: { enabled: true, liability: null, status: 'requires_location_inputs' },
    tax_id_collection: { enabled: true, required: 'never' },
    billing_address_collection: 'required',
    invoice_creation: { enabled: true, invoice_data: { metadata: {} } },
    invoice: null,
    amount_subtotal: 1000,
    amount_total: 1000,
    total_details: { amount_tax: 0 }
  })
  await t.rejects(emu.pay(session.id), /details\.address/)
  const plain = await stripe.checkout.sessions.create({ ...taxed([{ price_data: { currency: 'usd', unit_amount: 500, product_data: { name: 'Zine' } }, quantity: 1 }]), automatic_tax: undefined, tax_id_collection: undefined, billing_address_collection: undefined, invoice_creation: undefined })
  t.match(plain, { automatic_tax: { enabled: false, status: null }, invoice_creation: { enabled: false }, billing_address_collection: null })
  await emu.pay(plain.id)
  t.match(emu.sessions.get(plain.id), { payment_status: 'paid', invoice: null, customer_details: { tax_exempt: 'none', tax_ids: [], address: { country: null } } })
})

t.test('an e-book in Germany and France: exclusive tax is added, inclusive tax is inside the price', async (t) => {
  const { emu, stripe } = await emulator(t)
  const cases: Array<[string, Behavior, number, number, number]> = [
    ['DE', 'exclusive', 1000, 70, 1070],
    ['DE', 'inclusive', 1000, 65, 1000], // 1000 × 7 / 107 = 65.42
    ['FR', 'exclusive', 1000, 55, 1055],
    ['FR', 'inclusive', 1000, 52, 1000] // 1000 × 5.5 / 105.5 = 52.13
  ]
  for (const [country, behavior, amount, tax, total] of cases) {
    const session = await stripe.checkout.sessions.create(taxed([ebook(amount, behavior)]))
    await emu.pay(session.id, 'card', { email: 'reader@example.com', address: { country } })
    const paid = await stripe.checkout.sessions.retrieve(session.id)
    t.match(paid, { amount_subtotal: amount, amount_total: total, total_details: { amount_tax: tax, amount_discount: 0 }, automatic_tax: { status: 'complete' } }, `${country} ${behavior}`)
    t.match(paid.customer_details, { email: 'reader@example.com', address: { country }, tax_exempt: 'none', tax_ids: [] })
  }
  // A standard-rated product code takes the standard rate.
  const standard = await stripe.checkout.sessions.create(taxed([{ price_data: { currency: 'eur', unit_amount: 1000, tax_behavior: 'exclusive', product_data: { name: 'Course', tax_code: 'txcd_10000000' } }, quantity: 1 }]))
  await emu.pay(standard.id, 'card', { email: 'a@example.com', address: { country: 'DE' } })
  t.match(emu.sessions.get(standard.id), { total_details: { amount_tax: 190 }, amount_total: 1190 })
})

t.test('a promotion code with tax: tax is on the discounted amount', async (t) => {
  const { emu, stripe } = await emulator(t)
  emu.createPromotionCode({ code: 'LAUNCH', percentOff: 20 })
  const session = await stripe.checkout.sessions.create(taxed([ebook(1500)], { allow_promotion_codes: true }))
  await emu.pay(session.id, 'card', { email: 'a@example.com', promotionCode: 'LAUNCH', address: { country: 'NL' } })
  // 1500 − 300 = 1200, NL e-books 9% → 108.
  t.match(await stripe.checkout.sessions.retrieve(session.id), { amount_subtotal: 1500, amount_total: 1308, total_details: { amount_discount: 300, amount_tax: 108 } })
})

t.test('reverse charge: an EU business with a VAT id elsewhere in the EU pays no tax', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(2000)]))
  await emu.pay(session.id, 'card', { email: 'b@example.com', name: 'Anna', businessName: 'Buch GmbH', taxId: 'de 123.456.789', address: { country: 'DE', line1: 'Hauptstr. 1', postal_code: '10115', city: 'Berlin' } })
  const paid = await stripe.checkout.sessions.retrieve(session.id)
  t.match(paid, { amount_total: 2000, total_details: { amount_tax: 0 } })
  t.match(paid.customer_details, { tax_exempt: 'reverse', tax_ids: [{ type: 'eu_vat', value: 'DE123456789' }], address: { country: 'DE', line1: 'Hauptstr. 1', postal_code: '10115', city: 'Berlin' } })
  // In the seller's own country (IE by default) a VAT id changes nothing.
  const home = await stripe.checkout.sessions.create(taxed([ebook(2000)], { billing_address_collection: 'required' }))
  await emu.pay(home.id, 'card', { email: 'c@example.com', taxId: 'IE1234567T', address: { country: 'IE' } })
  t.match(emu.sessions.get(home.id)!.customer_details, { tax_exempt: 'none', tax_ids: [{ type: 'eu_vat', value: 'IE1234567T' }] })
  await t.rejects(emu.pay(home.id, 'card', { taxId: 'XX1' }), /not open/)
  const bad = await stripe.checkout.sessions.create(taxed([ebook(2000)]))
  await t.rejects(emu.pay(bad.id, 'card', { email: 'd@example.com', taxId: 'FR123', address: { country: 'DE' } }), /starts with DE/)
})

t.test('a GB buyer: gb_vat id, no reverse charge outside the EU, 0% on e-books', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(1000), { price_data: { currency: 'eur', unit_amount: 500, tax_behavior: 'exclusive', product_data: { name: 'Poster' } }, quantity: 1 }]))
  await emu.pay(session.id, 'card', { email: 'g@example.com', taxId: 'GB 123 4567 89', address: { country: 'GB' } })
  t.match(await stripe.checkout.sessions.retrieve(session.id), { amount_total: 1600, total_details: { amount_tax: 100 }, customer_details: { tax_exempt: 'none', tax_ids: [{ type: 'gb_vat', value: 'GB123456789' }] } })
  const other = await stripe.checkout.sessions.create(taxed([ebook(1000)]))
  await t.rejects(emu.pay(other.id, 'card', { email: 'j@example.com', taxId: '123', address: { country: 'JP' } }), /not accepted here/)
})

t.test('refused params name the param, in Stripe\'s error shape', async (t) => {
  const { stripe } = await emulator(t)
  const refused = async (params: Stripe.Checkout.SessionCreateParams, param: string, message: RegExp): Promise<void> => {
    await t.rejects(stripe.checkout.sessions.create(params), { type: 'StripeInvalidRequestError', statusCode: 400, param, message }, param)
  }
  await refused(taxed([{ ...ebook(1000), price_data: { ...ebook(1000).price_data!, tax_behavior: 'sometimes' as Behavior } }]), 'line_items[0][price_data][tax_behavior]', /exclusive, inclusive, or unspecified/)
  await refused(taxed([{ ...ebook(1000), price_data: { ...ebook(1000).price_data!, product_data: { name: 'X', tax_code: 'ebook' } } }]), 'line_items[0][price_data][product_data][tax_code]', /Invalid tax code/)
  await refused(taxed([ebook(1000), ebook(500, null)]), 'line_items[1][price_data][tax_behavior]', /automatic_tax\[enabled\]=true/)
  await refused(taxed([ebook(1000, 'exclusive'), { ...ebook(500), price_data: { ...ebook(500).price_data!, tax_behavior: 'unspecified' } }]), 'line_items[1][price_data][tax_behavior]', /exclusive or inclusive/)
  await refused(taxed([ebook(1000), ebook(500, 'exclusive', 'Zine', 'usd')]), 'line_items[1][price_data][currency]', /same currency/)
  await refused(taxed([ebook(1000)], { billing_address_collection: 'sometimes' as 'auto' }), 'billing_address_collection', /auto or required/)
  await refused(taxed([ebook(1000)], { invoice_creation: { enabled: true, invoice_data: { footer: 'x' } } }), 'invoice_creation[invoice_data][footer]', /does not support/)
  const five = Array.from({ length: 5 }, (_, i) => ({ name: `Field ${i}`, value: 'x' }))
  await refused(taxed([ebook(1000)], { invoice_creation: { enabled: true, invoice_data: { custom_fields: five } } }), 'invoice_creation[invoice_data][custom_fields]', /at most 4/)
  await refused(taxed([ebook(1000)], { invoice_creation: { enabled: true, invoice_data: { custom_fields: [{ name: 'n'.repeat(41), value: 'x' }] } } }), 'invoice_creation[invoice_data][custom_fields][0][name]', /at most 40/)
  await refused(taxed(Array.from({ length: 101 }, () => ebook(100))), 'line_items', /at most 100/)
  // Without automatic tax a missing tax_behavior is fine, as before.
  t.ok(await stripe.checkout.sessions.create({ ...taxed([ebook(1000, null)]), automatic_tax: { enabled: false } }))
})

t.test('several line items: the discount spreads in proportion, each line is listed with its amounts', async (t) => {
  const { emu, stripe } = await emulator(t)
  emu.createPromotionCode({ code: 'TEN', amountOff: 1000, currency: 'eur' })
  const session = await stripe.checkout.sessions.create(taxed([ebook(1000, 'exclusive', 'Guide'), ebook(1500, 'exclusive', 'Atlas', 'eur', 2), ebook(333, 'exclusive', 'Map')], { allow_promotion_codes: true }))
  t.equal(session.amount_subtotal, 1000 + 3000 + 333)
  await emu.pay(session.id, 'card', { email: 'a@example.com', promotionCode: 'TEN', address: { country: 'DE' } })
  const items = await stripe.checkout.sessions.listLineItems(session.id)
  t.equal(items.object, 'list')
  t.equal(items.has_more, false)
  // Shares of 1000 over 4333: 231, 692, and the rest (77) on the last line.
  t.match(items.data.map((item) => ({ d: item.description, q: item.quantity, sub: item.amount_subtotal, disc: item.amount_discount, tax: item.amount_tax, total: item.amount_total })), [
    { d: 'Guide', q: 1, sub: 1000, disc: 231, tax: 54, total: 823 },
    { d: 'Atlas', q: 2, sub: 3000, disc: 692, tax: 162, total: 2470 },
    { d: 'Map', q: 1, sub: 333, disc: 77, tax: 18, total: 274 }
  ])
  t.match(items.data[1], { object: 'item', currency: 'eur', price: { unit_amount: 1500, currency: 'eur', tax_behavior: 'exclusive' } })
  const paid = await stripe.checkout.sessions.retrieve(session.id, { expand: ['line_items'] })
  t.match(paid, { amount_subtotal: 4333, amount_total: 823 + 2470 + 274, total_details: { amount_discount: 1000, amount_tax: 54 + 162 + 18 } })
  t.equal(paid.line_items?.data.length, 3)
  await t.rejects(stripe.checkout.sessions.listLineItems('cs_test_nope'), { statusCode: 404, code: 'resource_missing' })
})

t.test('an invoice: created at payment, retrieved with the SDK, shown on its hosted page; 404 for an unknown id', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(2000)], { invoice_creation: { enabled: true, invoice_data: { metadata: { order_id: 'order-1' } } } }))
  await emu.pay(session.id, 'card', { email: 'b@example.com', name: 'Anna', businessName: 'Buch GmbH', taxId: 'DE123456789', address: { country: 'DE', line1: 'Hauptstr. 1', postal_code: '10115', city: 'Berlin' } })
  const paid = await stripe.checkout.sessions.retrieve(session.id)
  t.match(paid.invoice, /^in_/)
  const event = emu.events.find((e) => e.type === 'checkout.session.completed')
  t.equal(event?.data.object.invoice, paid.invoice, 'the completed event names the invoice')
  const invoice = await stripe.invoices.retrieve(paid.invoice as string)
  t.match(invoice, { object: 'invoice', number: 'EMU-0001', status: 'paid', currency: 'eur', subtotal: 2000, tax: 0, total: 2000, amount_paid: 2000, amount_due: 2000, customer_email: 'b@example.com', customer_name: 'Anna', customer_tax_ids: [{ type: 'eu_vat', value: 'DE123456789' }], invoice_pdf: null, metadata: { order_id: 'order-1' } })
  t.equal(invoice.lines.data.length, 1)
  t.equal(invoice.hosted_invoice_url, `${emu.url}/i/${invoice.id}`)
  const page = await fetch(invoice.hosted_invoice_url!)
  t.equal(page.status, 200)
  const html = await page.text()
  t.match(html, /EMU-0001/)
  t.match(html, /DE123456789/)
  t.match(html, /Buch GmbH/)
  t.match(html, /Reverse charge/)
  t.match(html, /Paid/)
  await t.rejects(stripe.invoices.retrieve('in_nope'), { statusCode: 404, code: 'resource_missing', message: "No such invoice: 'in_nope'" })
  t.equal((await fetch(`${emu.url}/i/in_nope`)).status, 404)

  const second = await stripe.checkout.sessions.create(taxed([ebook(1000)]))
  await emu.pay(second.id, 'card', { email: 'c@example.com', address: { country: 'DE' } })
  const next = await stripe.invoices.retrieve(emu.sessions.get(second.id)!.invoice!)
  t.match(next, { number: 'EMU-0002', tax: 70, total: 1070 })
  t.match(await (await fetch(next.hosted_invoice_url!)).text(), /VAT 7%/)

  // The seller's tax id as a custom field (what the app sends): on the invoice and its page.
  const withField = await stripe.checkout.sessions.create(taxed([ebook(1000)], { invoice_creation: { enabled: true, invoice_data: { custom_fields: [{ name: 'Seller tax id', value: 'IE1234567T' }] } } }))
  await emu.pay(withField.id, 'card', { email: 'd@example.com', address: { country: 'FR' } })
  const fielded = await stripe.invoices.retrieve(emu.sessions.get(withField.id)!.invoice!)
  t.same(fielded.custom_fields, [{ name: 'Seller tax id', value: 'IE1234567T' }])
  t.match(await (await fetch(fielded.hosted_invoice_url!)).text(), 'Seller tax id: IE1234567T')
})

t.test('a bank transfer creates the invoice only when it settles', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(1000)]))
  await emu.pay(session.id, 'bank_transfer', { email: 'slow@example.com', address: { country: 'FR' } })
  t.equal(emu.sessions.get(session.id)!.invoice, null)
  t.equal(emu.events.find((e) => e.type === 'checkout.session.completed')?.data.object.invoice, null)
  await emu.settle(session.id, 'succeeded')
  const invoiceId = emu.sessions.get(session.id)!.invoice
  t.match(invoiceId, /^in_/)
  t.equal(emu.events.find((e) => e.type === 'checkout.session.async_payment_succeeded')?.data.object.invoice, invoiceId)
  t.match(await stripe.invoices.retrieve(invoiceId!), { total: 1055, tax: 55 })
})

t.test('the hosted page: address fields recompute the tax; a malformed tax id or no country is a 400 keeping what was typed', async (t) => {
  const { emu, stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(taxed([ebook(1000)]))
  const page = await (await fetch(session.url!)).text()
  t.match(page, /<select id="country" name="country"/)
  t.match(page, /I&#39;m buying as a business|I'm buying as a business/)
  t.match(page, /name="tax_id"/)
  t.match(page, /Enter your address/)

  const noCountry = await post(`${session.url!}/address`, { email: 'a@example.com', country: '' })
  t.equal(noCountry.status, 400)
  t.match(await noCountry.text(), /Choose your country/)
  const updated = await post(`${session.url!}/address`, { email: 'a@example.com', country: 'DE', city: 'Berlin' })
  t.equal(updated.status, 200)
  const shown = await updated.text()
  t.match(shown, /VAT 7%/)
  t.match(shown, /Pay €10\.70/)
  t.match(shown, /value="a@example.com"/)
  t.match(emu.sessions.get(session.id), { amount_total: 1070, total_details: { amount_tax: 70 }, automatic_tax: { status: 'complete' } })

  const malformed = await post(`${session.url!}/address`, { email: 'a@example.com', country: 'DE', business: '1', business_name: 'Buch GmbH', tax_id: 'FR12' })
  t.equal(malformed.status, 400)
  const error = await malformed.text()
  t.match(error, /starts with DE/)
  t.match(error, /value="FR12"/)
  t.match(error, /value="Buch GmbH"/)
  t.equal(emu.sessions.get(session.id)!.amount_total, 1070, 'nothing changed')

  const reverse = await post(`${session.url!}/address`, { country: 'AT', business: '1', business_name: 'Wien AG', tax_id: 'ATU12345678' })
  t.match(await reverse.text(), /Reverse charge/)
  // Paying posts the address again: it is what counts.
  const paid = await post(session.url!, { email: 'a@example.com', country: 'FR', method: 'card', card_number: '4242424242424242' })
  t.equal(paid.status, 303)
  t.match(emu.sessions.get(session.id), { status: 'complete', amount_total: 1055, customer_details: { address: { country: 'FR' }, tax_exempt: 'none', tax_ids: [] } })
  const dashboard = await (await fetch(`${emu.url}/payments`)).text()
  t.match(dashboard, /tax €0\.55 · FR/)
})

t.test('snapshot and restore keep the invoices', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'emu-tax-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'stripe.json')
  const first = await emulator(t, file)
  const session = await first.stripe.checkout.sessions.create(taxed([ebook(1000)]))
  await first.emu.pay(session.id, 'card', { email: 'a@example.com', address: { country: 'SE' } })
  const invoiceId = first.emu.sessions.get(session.id)!.invoice!
  await first.emu.close()
  const again = await emulator(t, file)
  t.match(await again.stripe.invoices.retrieve(invoiceId), { number: 'EMU-0001', tax: 60, total: 1060 })
  t.equal((await again.stripe.checkout.sessions.listLineItems(session.id)).data[0]?.amount_tax, 60)
  const next = await again.stripe.checkout.sessions.create(taxed([ebook(1000)]))
  await again.emu.pay(next.id, 'card', { email: 'b@example.com', address: { country: 'SE' } })
  t.match(await again.stripe.invoices.retrieve(again.emu.sessions.get(next.id)!.invoice!), { number: 'EMU-0002' })
})
