// The Stripe emulator's promotion codes and Payment Links, through the official SDK (as the app
// and a seller's scripts talk to Stripe) and through its hosted pages (as a buyer's browser does).
import Fastify from 'fastify'
import Stripe from 'stripe'
import t from 'tap'
import { type StripeEmulator, type StripeEvent, startStripeEmulator } from '../../src/dev/stripe-emulator/index.js'
import type { TestContext } from '../helpers/build.js'

const SECRET = 'whsec_test_extras'

interface Receiver { url: string, events: Stripe.Event[] }

/** A webhook endpoint on 127.0.0.1 that verifies signatures the way the app does. */
async function receiver (t: TestContext): Promise<Receiver> {
  const app = Fastify()
  const events: Stripe.Event[] = []
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body) })
  app.post('/hook', async (request, reply) => {
    const signature = request.headers['stripe-signature']
    events.push(Stripe.webhooks.constructEvent(request.body as Buffer, String(signature), SECRET))
    return await reply.code(200).send({ received: true })
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(async () => { await app.close() })
  const address = app.server.address()
  return { url: `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/hook`, events }
}

async function emulator (t: TestContext, webhookUrl?: string): Promise<{ emu: StripeEmulator, stripe: Stripe }> {
  const emu = await startStripeEmulator({ webhookSecret: SECRET, webhookUrl, retryDelaysMs: [] })
  t.teardown(async () => { await emu.close() })
  const url = new URL(emu.url)
  const stripe = new Stripe('sk_test_extras', { protocol: 'http', host: url.hostname, port: Number(url.port), maxNetworkRetries: 0 })
  return { emu, stripe }
}

const sessionParams = (extra: Partial<Stripe.Checkout.SessionCreateParams> = {}): Stripe.Checkout.SessionCreateParams => ({
  mode: 'payment',
  line_items: [{ price_data: { currency: 'usd', unit_amount: 1500, product_data: { name: 'Field Guide' } }, quantity: 1 }],
  client_reference_id: 'order-1',
  metadata: { order_id: 'order-1' },
  success_url: 'http://127.0.0.1:9/checkout/success?session_id={CHECKOUT_SESSION_ID}',
  cancel_url: 'http://127.0.0.1:9/checkout/cancel',
  ...extra
})

/** A browser's form post to the emulator's pages; redirects are returned, not followed. */
async function post (url: string, form: Record<string, string>): Promise<Response> {
  return await fetch(url, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' })
}

const completed = (events: StripeEvent[]): StripeEvent[] => events.filter((e) => e.type === 'checkout.session.completed')

t.test('every session carries amount_subtotal, amount_total and total_details, with no discount by default', async (t) => {
  const { stripe } = await emulator(t)
  const session = await stripe.checkout.sessions.create(sessionParams())
  t.equal(session.amount_subtotal, 1500)
  t.equal(session.amount_total, 1500)
  t.same(session.total_details, { amount_discount: 0, amount_shipping: 0, amount_tax: 0 })
  t.same(session.discounts, [])
  t.equal(session.payment_link, null)
  t.equal(session.allow_promotion_codes, null)
  const allowed = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }))
  t.equal(allowed.allow_promotion_codes, true)
})

t.test('allow_promotion_codes is validated like Stripe: a boolean, and never with discounts', async (t) => {
  const { emu } = await emulator(t)
  const create = async (body: string): Promise<{ status: number, error: { message: string, param?: string } }> => {
    const response = await fetch(`${emu.url}/v1/checkout/sessions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_x', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'mode=payment&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=500' +
        '&line_items[0][price_data][product_data][name]=Zine&line_items[0][quantity]=1' +
        '&success_url=http://127.0.0.1:9/s&cancel_url=http://127.0.0.1:9/c&' + body
    })
    return { status: response.status, ...(await response.json() as { error: { message: string, param?: string } }) }
  }
  const notBoolean = await create('allow_promotion_codes=yes')
  t.equal(notBoolean.status, 400)
  t.equal(notBoolean.error.param, 'allow_promotion_codes')
  t.match(notBoolean.error.message, /Invalid boolean: yes/)
  const both = await create('allow_promotion_codes=true&discounts[0][coupon]=X')
  t.equal(both.status, 400)
  t.match(both.error.message, /only specify one of these parameters: allow_promotion_codes, discounts/)
  t.ok(emu.requests.some((r) => r.body.allow_promotion_codes === 'yes'), 'the API record has the refused call')
})

t.test('coupons and promotion codes: created, read back and refused like Stripe', async (t) => {
  const { emu, stripe } = await emulator(t)
  const coupon = await stripe.coupons.create({ percent_off: 25, duration: 'once', id: 'LAUNCH25', name: 'Launch' })
  t.match(coupon, { id: 'LAUNCH25', object: 'coupon', percent_off: 25, amount_off: null, duration: 'once', valid: true, times_redeemed: 0 })
  t.same(await stripe.coupons.retrieve('LAUNCH25'), coupon)
  const fixed = await stripe.coupons.create({ amount_off: 500, currency: 'usd', duration: 'once' })
  t.match(fixed, { amount_off: 500, currency: 'usd', percent_off: null })

  const code = await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: 'LAUNCH25' }, code: 'LAUNCH' })
  t.match(code, { object: 'promotion_code', code: 'LAUNCH', active: true, promotion: { type: 'coupon', coupon: 'LAUNCH25' } })
  t.match(code.id, /^promo_/)
  t.same(await stripe.promotionCodes.retrieve(code.id), code)
  const off = await stripe.promotionCodes.update(code.id, { active: false })
  t.equal(off.active, false)

  await t.rejects(stripe.coupons.create({ duration: 'once' }), { message: /either amount_off or percent_off/ })
  await t.rejects(stripe.coupons.create({ amount_off: 100, duration: 'once' }), { message: /currency/ })
  await t.rejects(stripe.coupons.create({ percent_off: 120, duration: 'once' }), { message: /percent_off/, param: 'percent_off' })
  await t.rejects(stripe.coupons.create({ percent_off: 10, id: 'LAUNCH25' }), { code: 'resource_already_exists' })
  await t.rejects(stripe.coupons.retrieve('NOPE'), { statusCode: 404, code: 'resource_missing' })
  await t.rejects(stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: 'NOPE' } }), { message: /No such coupon: 'NOPE'/ })
  await stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: 'LAUNCH25' }, code: 'AGAIN' })
  await t.rejects(stripe.promotionCodes.create({ promotion: { type: 'coupon', coupon: 'LAUNCH25' }, code: 'again' }), { code: 'resource_already_exists' })

  // An older API version names the coupon as `coupon`, as Stripe answered before 2025-09-30.clover.
  const old = await fetch(`${emu.url}/v1/promotion_codes/${code.id}`, { headers: { authorization: 'Bearer sk_test_x', 'stripe-version': '2025-01-27.acacia' } })
  const body = await old.json() as Record<string, unknown>
  t.match(body, { coupon: { id: 'LAUNCH25', object: 'coupon' } })
  t.notOk('promotion' in body)

  const paths = emu.requests.map((r) => `${r.method} ${r.path}`)
  t.ok(paths.includes('POST /v1/coupons') && paths.includes('POST /v1/promotion_codes') && paths.includes(`POST /v1/promotion_codes/${code.id}`), 'the API record has the calls')
})

t.test('the checkout page shows the promotion code field only when the session allows codes', async (t) => {
  const { emu, stripe } = await emulator(t)
  const plain = await stripe.checkout.sessions.create(sessionParams())
  t.notMatch(await (await fetch(plain.url!)).text(), /Add promotion code/)
  const allowed = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }))
  const page = await (await fetch(allowed.url!)).text()
  t.match(page, /Add promotion code/)
  t.match(page, /name="promotion_code"/)
  // Posting a code to a session that does not allow them changes nothing.
  emu.createPromotionCode({ code: 'TENOFF', percentOff: 10 })
  const refused = await post(`${plain.url!}/promotion`, { promotion_code: 'TENOFF' })
  t.equal(refused.status, 400)
  t.equal(emu.sessions.get(plain.id)!.amount_total, 1500)
})

t.test('applying a code on the page recomputes the totals shown and stored; unknown and inactive codes show an error', async (t) => {
  const { emu, stripe } = await emulator(t)
  const launch = emu.createPromotionCode({ code: 'LAUNCH', percentOff: 20 })
  t.match(launch, { code: 'LAUNCH' })
  t.match(launch.id, /^promo_/)
  t.match(await stripe.coupons.retrieve(launch.couponId), { percent_off: 20 })
  const session = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }))

  const unknown = await post(`${session.url!}/promotion`, { promotion_code: 'NOPE' })
  t.equal(unknown.status, 400)
  t.match(await unknown.text(), /This code is invalid/)
  const retired = emu.createPromotionCode({ code: 'OLD', amountOff: 100, currency: 'usd' })
  await stripe.promotionCodes.update(retired.id, { active: false })
  t.match(await (await post(`${session.url!}/promotion`, { promotion_code: 'OLD' })).text(), /This code is invalid/)
  t.equal(emu.sessions.get(session.id)!.amount_total, 1500, 'nothing applied')

  const applied = await post(`${session.url!}/promotion`, { promotion_code: 'launch' })
  t.equal(applied.status, 303, 'back to the page (codes are case-insensitive)')
  const page = await (await fetch(session.url!)).text()
  t.match(page, /Subtotal[\s\S]*\$15\.00/)
  t.match(page, /LAUNCH[\s\S]*−\$3\.00/)
  t.match(page, /Pay \$12\.00/)
  const stored = await stripe.checkout.sessions.retrieve(session.id)
  t.equal(stored.amount_subtotal, 1500)
  t.equal(stored.amount_total, 1200)
  t.same(stored.total_details, { amount_discount: 300, amount_shipping: 0, amount_tax: 0 })
  t.same(stored.discounts, [{ coupon: launch.couponId, promotion_code: launch.id }])

  t.equal((await post(`${session.url!}/promotion`, { remove: '1' })).status, 303)
  t.equal(emu.sessions.get(session.id)!.amount_total, 1500, 'removing the code restores the total')
})

t.test('an amount-off code in another currency, or one leaving less than the minimum charge, is refused', async (t) => {
  const { emu, stripe } = await emulator(t)
  emu.createPromotionCode({ code: 'EUROS', amountOff: 500, currency: 'eur' })
  emu.createPromotionCode({ code: 'ALMOST', amountOff: 1480, currency: 'usd' })
  emu.createPromotionCode({ code: 'MORE', amountOff: 5000, currency: 'usd' })
  const session = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }))
  await t.rejects(emu.pay(session.id, 'card', { promotionCode: 'EUROS' }), /not valid for this currency/)
  await t.rejects(emu.pay(session.id, 'card', { promotionCode: 'ALMOST' }), /below the minimum charge/)
  t.equal(emu.sessions.get(session.id)!.status, 'open')
  await emu.pay(session.id, 'card', { email: 'a@example.com', promotionCode: 'MORE' })
  t.match(emu.sessions.get(session.id), { amount_total: 0, total_details: { amount_discount: 1500 }, payment_status: 'no_payment_required' }, 'a discount larger than the subtotal stops at it')
})

t.test('pay() with a code: the completed event carries the discounted totals, and a refund is of what was paid', async (t) => {
  const hook = await receiver(t)
  const { emu, stripe } = await emulator(t, hook.url)
  emu.createPromotionCode({ code: 'FIVE', amountOff: 500, currency: 'usd' })
  const session = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true, customer_email: 'buyer@example.com' }))
  await emu.pay(session.id, 'card', { promotionCode: 'FIVE' })
  const event = hook.events.find((e) => e.type === 'checkout.session.completed')
  const object = event?.data.object as Stripe.Checkout.Session
  t.match(object, { payment_status: 'paid', amount_subtotal: 1500, amount_total: 1000, total_details: { amount_discount: 500 }, client_reference_id: 'order-1' })
  t.equal((await stripe.promotionCodes.retrieve(object.discounts![0]!.promotion_code as string)).times_redeemed, 1)
  const refund = await stripe.refunds.create({ payment_intent: object.payment_intent as string })
  t.equal(refund.amount, 1000)
})

t.test('a code that makes the total 0 completes the session no_payment_required, with no payment intent', async (t) => {
  const hook = await receiver(t)
  const { emu, stripe } = await emulator(t, hook.url)
  emu.createPromotionCode({ code: 'FREE', percentOff: 100 })
  const session = await stripe.checkout.sessions.create(sessionParams({ allow_promotion_codes: true }))
  t.equal((await post(`${session.url!}/promotion`, { promotion_code: 'FREE' })).status, 303)
  const page = await (await fetch(session.url!)).text()
  t.match(page, /Complete order/)
  t.notMatch(page, /Card number/, 'no payment method is collected')

  const done = await post(session.url!, { email: 'free@example.com' })
  t.equal(done.status, 303)
  t.equal(done.headers.get('location'), `http://127.0.0.1:9/checkout/success?session_id=${session.id}`)
  // The page redirects before the webhook's delivery is awaited; wait for it, boundedly.
  for (let i = 0; i < 100 && hook.events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const object = hook.events[0]?.data.object as Stripe.Checkout.Session
  t.match(object, { status: 'complete', payment_status: 'no_payment_required', payment_intent: null, amount_total: 0, amount_subtotal: 1500, total_details: { amount_discount: 1500 } })
  t.equal(object.customer_details?.email, 'free@example.com')
})

t.test('prices and Payment Links: created, read back, deactivated, and 404 for unknown ids', async (t) => {
  const { emu, stripe } = await emulator(t)
  const price = await stripe.prices.create({ unit_amount: 900, currency: 'eur', product_data: { name: 'Zine #4' } })
  t.match(price, { object: 'price', unit_amount: 900, currency: 'eur', type: 'one_time', active: true })
  t.match(price.id, /^price_/)
  t.match(price.product, /^prod_/)
  const link = await stripe.paymentLinks.create({ line_items: [{ price: price.id, quantity: 1 }] })
  t.match(link, { object: 'payment_link', active: true, livemode: false, currency: 'eur', allow_promotion_codes: false, after_completion: { type: 'hosted_confirmation' } })
  t.match(link.id, /^plink_/)
  t.equal(link.url, `${emu.url}/b/${link.id}`)
  t.same(await stripe.paymentLinks.retrieve(link.id), link)
  await t.rejects(stripe.paymentLinks.retrieve('plink_nope'), { statusCode: 404, code: 'resource_missing', message: "No such payment_link: 'plink_nope'" })
  await t.rejects(stripe.paymentLinks.create({ line_items: [{ price: 'price_nope', quantity: 1 }] }), { message: /No such price/ })
  await t.rejects(stripe.paymentLinks.create({ line_items: [{ price: price.id, quantity: 0 }] }), { message: /greater than or equal to 1/, param: 'line_items[0][quantity]' })

  const off = await stripe.paymentLinks.update(link.id, { active: false })
  t.equal(off.active, false)
  const page = await fetch(link.url, { redirect: 'manual' })
  t.equal(page.status, 410)
  t.match(await page.text(), /no longer available/)
  t.equal(emu.sessions.size, 0, 'a deactivated link opens no session')
  await t.rejects(emu.payLink(link.id, { email: 'x@example.com' }), /deactivated/)
  t.equal((await fetch(`${emu.url}/b/plink_nope`)).status, 404)

  const paths = emu.requests.map((r) => `${r.method} ${r.path}`)
  t.ok(paths.includes('POST /v1/prices') && paths.includes('POST /v1/payment_links') && paths.includes(`POST /v1/payment_links/${link.id}`), 'the API record has the calls')
})

t.test('a Payment Link in a browser: a new session for its price, email typed on the page, the hosted confirmation, the webhook', async (t) => {
  const hook = await receiver(t)
  const { emu } = await emulator(t, hook.url)
  const link = await emu.createPaymentLink({ name: 'Field Guide', unitAmount: 1500, currency: 'usd' })
  const opened = await fetch(link.url, { redirect: 'manual' })
  t.equal(opened.status, 303)
  const location = opened.headers.get('location')!
  t.match(location, /^\/pay\/cs_test_/)
  const session = emu.sessions.get(location.slice('/pay/'.length))!
  t.match(session, { payment_link: link.id, client_reference_id: null, metadata: {}, amount_total: 1500, currency: 'usd', success_url: null, customer_email: null })

  const page = await (await fetch(`${emu.url}${location}`)).text()
  t.match(page, /Field Guide/)
  t.match(page, /name="email"[^>]*value=""/)
  t.notMatch(page, /← Back/, 'a link session has no cancel_url to go back to')

  const noEmail = await post(`${emu.url}${location}`, { method: 'card', card_number: '4242 4242 4242 4242' })
  t.equal(noEmail.status, 400)
  const paid = await post(`${emu.url}${location}`, { email: 'reader@example.com', method: 'card', card_number: '4242 4242 4242 4242' })
  t.equal(paid.status, 303)
  const confirmation = await fetch(`${emu.url}${paid.headers.get('location')!}`)
  t.equal(confirmation.status, 200)
  const text = await confirmation.text()
  t.match(text, /Thanks for your payment/)
  t.match(text, /\$15\.00/)

  for (let i = 0; i < 100 && hook.events.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  const object = hook.events[0]?.data.object as Stripe.Checkout.Session
  t.match(object, { payment_link: link.id, client_reference_id: null, payment_status: 'paid', amount_total: 1500, customer_details: { email: 'reader@example.com' } })
  t.equal(object.metadata?.order_id, undefined)
  // Coming back to the paid session's page leads to the confirmation again.
  t.match(await (await fetch(`${emu.url}${location}`)).text(), /confirmation/)
})

t.test('payLink opens and pays a link session, with a promotion code when the link allows them', async (t) => {
  const hook = await receiver(t)
  const { emu, stripe } = await emulator(t, hook.url)
  emu.createPromotionCode({ code: 'HALF', percentOff: 50 })
  const strict = await emu.createPaymentLink({ name: 'Zine', unitAmount: 800, currency: 'usd' })
  await t.rejects(emu.payLink(strict.id, { email: 'a@example.com', promotionCode: 'HALF' }), /does not accept promotion codes/)

  const link = await emu.createPaymentLink({ name: 'Zine', unitAmount: 800, currency: 'usd', allowPromotionCodes: true })
  const session = await emu.payLink(link.id, { email: 'b@example.com', name: 'B', promotionCode: 'HALF' })
  t.match(session, { status: 'complete', payment_status: 'paid', payment_link: link.id, amount_subtotal: 800, amount_total: 400, customer_details: { email: 'b@example.com', name: 'B' } })
  const event = completed(emu.events).find((e) => e.data.object.id === session.id)
  t.match(event?.data.object, { payment_link: link.id, amount_total: 400, total_details: { amount_discount: 400 } })
  t.ok(hook.events.some((e) => (e.data.object as { id: string }).id === session.id), 'delivered to the webhook URL')
  t.match(await stripe.checkout.sessions.retrieve(session.id), { payment_link: link.id, amount_total: 400 })

  const bank = await emu.payLink(link.id, { email: 'c@example.com', method: 'bank_transfer' })
  t.match(bank, { status: 'complete', payment_status: 'unpaid' })
  await emu.settle(bank.id, 'succeeded')
  t.equal(emu.sessions.get(bank.id)!.payment_status, 'paid')
})

t.test('a link with after_completion redirect sends the buyer there with the session id', async (t) => {
  const { emu, stripe } = await emulator(t)
  const price = await stripe.prices.create({ unit_amount: 500, currency: 'usd', product_data: { name: 'Zine' } })
  const link = await stripe.paymentLinks.create({
    line_items: [{ price: price.id, quantity: 2 }],
    after_completion: { type: 'redirect', redirect: { url: 'http://127.0.0.1:9/thanks?session_id={CHECKOUT_SESSION_ID}' } }
  })
  const location = (await fetch(link.url, { redirect: 'manual' })).headers.get('location')!
  const id = location.slice('/pay/'.length)
  t.equal(emu.sessions.get(id)!.amount_total, 1000, 'price times quantity')
  const paid = await post(`${emu.url}${location}`, { email: 'r@example.com', method: 'card', card_number: '4242424242424242' })
  t.equal(paid.headers.get('location'), `http://127.0.0.1:9/thanks?session_id=${id}`)
})
