// backends: sqlite, postgres-s3
// Promotion codes and Payment Links through Stripe: the grant checks amount_subtotal against the
// order and amount_total against it less the discount; a Payment Link's session is matched to
// the item that stores its id, checked against that item's price and granted to the address
// Stripe collected, with a receipt; an unknown link is acknowledged and never granted.
import t from 'tap'
import type { Harness } from '../helpers/build.js'
import { linkToken, smtpServer } from '../helpers/smtp.js'
import { checkout, lastEvent, libraryRows, order, orders, sessionEvent, shop, type Shop, startCheckout, successPage } from '../helpers/purchase.js'

async function allowPromotionCodes (s: Shop): Promise<void> {
  const settings = s.h.app.settings.current()
  const saved = await s.h.app.settings.save({
    store_name: settings.storeName, tagline: settings.tagline, contact_email: settings.contactEmail, refund_policy: settings.refundPolicy, allow_promotion_codes: '1'
  })
  if (saved.settings === undefined) throw new Error('settings refused')
}

async function linkItem (h: Harness, slug: string, unitAmount = 500): Promise<{ id: string, url: string }> {
  const link = await h.stripe.createPaymentLink({ name: 'A Field Guide to Testing', unitAmount, currency: 'usd', allowPromotionCodes: true })
  await h.app.db.updateTable('content').set({ payment_link_id: link.id, payment_link_url: link.url }).where('slug', '=', slug).execute()
  return link
}

const completed = async (h: Harness) => await h.webhook(lastEvent(h, 'checkout.session.completed'))

t.test('promotion codes are offered only when the store allows them', async (t) => {
  const s = await shop(t)
  const plain = await startCheckout(s.h, s.reader, s.slug)
  t.notOk(s.h.stripe.sessions.get(plain.sessionId)!.allow_promotion_codes, 'off by default')
  await allowPromotionCodes(s)
  const other = await shop(t)
  await allowPromotionCodes(other)
  const offered = await startCheckout(other.h, other.reader, other.slug)
  t.equal(other.h.stripe.sessions.get(offered.sessionId)!.allow_promotion_codes, true, 'allow_promotion_codes=true when the setting is on')
})

t.test('a 20% promotion code: granted, the order records the discount, revenue counts what was paid', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  await allowPromotionCodes(s)
  s.h.stripe.createPromotionCode({ code: 'LAUNCH20', percentOff: 20 })
  const { sessionId, order: pending } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId, 'card', { promotionCode: 'LAUNCH20' })
  const session = s.h.stripe.sessions.get(sessionId)!
  t.equal(session.amount_subtotal, 500)
  t.equal(session.amount_total, 400)
  t.equal(session.total_details?.amount_discount, 100)
  const page = await successPage(s.h, s.reader, sessionId)
  t.match(page.body, 'Thank you')
  const paid = await order(s.h, pending.id)
  t.equal(paid.status, 'paid')
  t.equal(paid.amount_cents, 500, 'the order is for the price')
  t.equal(paid.discount_cents, 100, 'and records the discount')
  t.equal((await completed(s.h)).statusCode, 200)
  t.equal((await libraryRows(s.h)).length, 1)
  const csv = await s.h.request(s.admin, { url: '/admin/orders.csv' })
  t.match(csv.body, ',4.00,usd,', 'the CSV amount is what the buyer paid')
  const [receipt] = await smtp.waitFor(1)
  t.match(receipt!.text, '$4.00', 'the receipt says what the buyer paid')
  t.notMatch(receipt!.text, '$5.00')
  const library = await s.h.request(s.reader, { url: '/library' })
  t.match(library.body, '$4.00', 'and so does the library')
})

t.test('a promotion that makes the total 0 grants (the seller gave it away); a discount that does not add up grants nothing', async (t) => {
  const s = await shop(t)
  await allowPromotionCodes(s)
  s.h.stripe.createPromotionCode({ code: 'FREEBIE', percentOff: 100 })
  const { sessionId, order: pending } = await startCheckout(s.h, s.reader, s.slug)
  await s.h.stripe.pay(sessionId, 'card', { promotionCode: 'FREEBIE' })
  const session = s.h.stripe.sessions.get(sessionId)!
  t.equal(session.amount_total, 0)
  t.equal(session.payment_status, 'no_payment_required')
  t.match((await successPage(s.h, s.reader, sessionId)).body, 'Thank you')
  t.equal((await order(s.h, pending.id)).discount_cents, 500)

  // A forged event whose discount does not explain the total: held for review.
  const jar = await s.h.signIn({ email: 'forger@example.com', sub: 'forger' })
  const forged = await startCheckout(s.h, jar, s.slug)
  const event = sessionEvent(s.h, 'checkout.session.completed', forged.sessionId, {
    status: 'complete', payment_status: 'paid', amount_subtotal: 500, amount_total: 100, total_details: { amount_discount: 100, amount_shipping: 0, amount_tax: 0 }, payment_intent: 'pi_forged'
  })
  t.equal((await s.h.webhook(event)).json().outcome, 'mismatch')
  // And a subtotal that is not the order's amount, even with a consistent discount.
  const jar2 = await s.h.signIn({ email: 'forger2@example.com', sub: 'forger2' })
  const forged2 = await startCheckout(s.h, jar2, s.slug)
  const event2 = sessionEvent(s.h, 'checkout.session.completed', forged2.sessionId, {
    status: 'complete', payment_status: 'paid', amount_subtotal: 100, amount_total: 100, total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 }, payment_intent: 'pi_forged2'
  })
  t.equal((await s.h.webhook(event2)).json().outcome, 'mismatch')
  // "no payment required" for a session that still has a total: not paid.
  const jar3 = await s.h.signIn({ email: 'forger3@example.com', sub: 'forger3' })
  const forged3 = await startCheckout(s.h, jar3, s.slug)
  const event3 = sessionEvent(s.h, 'checkout.session.completed', forged3.sessionId, { status: 'complete', payment_status: 'no_payment_required', amount_total: 500, payment_intent: null })
  t.equal((await s.h.webhook(event3)).json().outcome, 'processing', 'nothing granted')
  t.equal((await libraryRows(s.h)).length, 1, 'only the honest 100% purchase')
})

t.test('a Payment Link purchase: matched to the item, granted to the collected email, with a receipt', async (t) => {
  const smtp = await smtpServer(t)
  const s = await shop(t, { SMTP_URL: smtp.url })
  const link = await linkItem(s.h, s.slug)
  const session = await s.h.stripe.payLink(link.id, { email: 'Linked@Example.com' })
  t.equal(session.payment_link, link.id)
  t.notOk(session.client_reference_id)
  const response = await completed(s.h)
  t.equal(response.statusCode, 200)
  t.equal(response.json().outcome, 'granted')
  const all = await orders(s.h)
  t.equal(all.length, 1, 'an order made for the link session')
  t.equal(all[0]!.provider_checkout_id, session.id)
  t.equal(all[0]!.amount_cents, 500)
  const owner = await s.h.app.db.selectFrom('users').select('email').where('id', '=', all[0]!.user_id).executeTakeFirstOrThrow()
  t.equal(owner.email, 'linked@example.com')
  const [receipt] = await smtp.waitFor(1)
  t.equal(receipt!.to, 'linked@example.com', 'a receipt goes to the address Stripe collected')
  t.ok(linkToken(receipt!.text), 'with a download link')
  // Redelivered with a new event id: nothing more.
  const again = await s.h.webhook(sessionEvent(s.h, 'checkout.session.completed', session.id))
  t.equal(again.json().outcome, 'already_paid')
  t.equal((await orders(s.h)).length, 1)
  // Signing in with that address later shows it in the library.
  const buyer = await s.h.signIn({ email: 'linked@example.com', sub: 'linked' })
  t.equal((await s.h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 200)
})

t.test('Payment Link sessions that must not be granted: an unknown link, a changed price, no address', async (t) => {
  const s = await shop(t)
  const stranger = await s.h.stripe.createPaymentLink({ name: 'Not ours', unitAmount: 500, currency: 'usd' })
  await s.h.stripe.payLink(stranger.id, { email: 'x@example.com' })
  const unknown = await completed(s.h)
  t.equal(unknown.statusCode, 200, 'acknowledged')
  t.equal(unknown.json().outcome, 'unknown_order')
  t.equal((await orders(s.h)).length, 0, 'no order for a link no item has')

  const cheap = await linkItem(s.h, s.slug, 100)
  await s.h.stripe.payLink(cheap.id, { email: 'cheap@example.com' })
  t.equal((await completed(s.h)).json().outcome, 'mismatch', 'the link\'s price is not the item\'s: held for review')
  t.equal((await orders(s.h))[0]?.status, 'review')
  t.equal((await libraryRows(s.h)).length, 0)
})

t.test('a session of another Payment Link grants nothing for the item that stores its own link, and is logged and acknowledged', async (t) => {
  const s = await shop(t)
  const ours = await linkItem(s.h, s.slug)
  // Same name, price and currency as the item's link: only the link's id tells them apart.
  const another = await s.h.stripe.createPaymentLink({ name: 'A Field Guide to Testing', unitAmount: 500, currency: 'usd', allowPromotionCodes: true })
  t.not(another.id, ours.id)
  const warnings = t.capture(s.h.app.log, 'warn')
  const session = await s.h.stripe.payLink(another.id, { email: 'elsewhere@example.com' })
  const response = await completed(s.h)
  t.equal(response.statusCode, 200, 'acknowledged')
  t.equal(response.json().outcome, 'unknown_order')
  t.equal((await orders(s.h)).length, 0, 'no order made for the item')
  t.same(await libraryRows(s.h), [], 'nothing granted')
  const logged = warnings().filter((call) => (call.args[0] as { paymentLink?: unknown } | undefined)?.paymentLink === another.id)
  t.equal(logged.length, 1, 'one warning naming the other link')
  t.match(logged[0]?.args[0], { sessionId: session.id }, 'with the session')
  const buyer = await s.h.signIn({ email: 'elsewhere@example.com', sub: 'elsewhere' })
  t.equal((await s.h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 403, 'the payer cannot download the item')

  // The item's own link still sells it.
  await s.h.stripe.payLink(ours.id, { email: 'ours@example.com' })
  t.equal((await completed(s.h)).json().outcome, 'granted')
  t.equal((await libraryRows(s.h)).length, 1)
})

t.test('a Payment Link purchase with a promotion code checks the discount too', async (t) => {
  const s = await shop(t)
  const link = await linkItem(s.h, s.slug)
  s.h.stripe.createPromotionCode({ code: 'HALF', percentOff: 50 })
  await s.h.stripe.payLink(link.id, { email: 'half@example.com', promotionCode: 'HALF' })
  t.equal((await completed(s.h)).json().outcome, 'granted')
  t.equal((await orders(s.h))[0]!.discount_cents, 250)
  t.equal((await checkout(s.h, s.reader, s.slug)).statusCode, 303, 'the item still sells on the site')
})
