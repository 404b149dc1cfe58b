// backends: sqlite, postgres-s3
import t from 'tap'
import { build } from '../helpers/build.js'
import { fuzzSeed, type Seed, seededRandom } from '../helpers/random.js'
import { seedBuyers, seedContent } from '../helpers/seed.js'
import { pool } from '../helpers/pool.js'

function shuffle<T> (items: T[], seed: Seed): T[] {
  // Deterministic: a failing order of deliveries is replayed with the seed its failure names.
  const random = seededRandom(seed)
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  return items
}

const USERS = 20
const ITEMS = 50
const PAID_ORDERS = USERS * ITEMS

t.test('a shuffled storm of 5,000 webhook events and success redirects grants each of 1,000 paid orders exactly once', async (t) => {
  const started = Date.now()
  const seed = fuzzSeed()
  const { note } = seed
  t.comment(`storm ${note}`)
  const h = await build(t)
  const buyers = await seedBuyers(h, USERS)
  const items = await seedContent(h, ITEMS)

  // A real Checkout Session in the emulator for every order, created through the app's own
  // Stripe client, so the success redirect reads it back exactly as in production.
  interface Purchase { orderId: string, userIndex: number, sessionId: string, session: Record<string, unknown> }
  const purchases: Purchase[] = await pool(buyers.flatMap(({ user }, userIndex) => items.map((item) => async () => {
    const order = await h.app.orders.create(user.id, item)
    const session = await h.app.payments.createCheckout({
      order, title: item.title, customerEmail: user.email, allowPromotionCodes: false, cancelUrl: `${h.config.publicUrl}/checkout/cancel`, tax: null, invoice: null
    })
    await h.app.orders.attachCheckout(order.id, session.id)
    return { orderId: order.id, userIndex, sessionId: session.id, session: {} }
  })), 25)
  t.equal(purchases.length, PAID_ORDERS, 'every order has its Checkout Session')
  t.comment(`created ${PAID_ORDERS} orders and sessions in ${Date.now() - started} ms`)

  // Stripe's side: every one is paid; a third by an asynchronous method that settled later.
  purchases.forEach((purchase, index) => {
    h.stripe.patchSession(purchase.sessionId, { status: 'complete', payment_status: 'paid', payment_intent: `pi_storm_${index}` })
    purchase.session = { ...h.stripe.sessions.get(purchase.sessionId)! }
  })

  type Delivery = { kind: 'event', event: object } | { kind: 'redirect', purchase: Purchase }
  const deliveries: Delivery[] = []
  let eventCount = 0
  const push = (event: object): void => { deliveries.push({ kind: 'event', event }); eventCount++ }
  purchases.forEach((purchase, index) => {
    const paid = purchase.session
    if (index % 3 === 0) {
      // Bank transfer: completed while unpaid, then async_payment_succeeded.
      const completed = h.stripe.buildEvent('checkout.session.completed', { ...paid, payment_status: 'unpaid' })
      const succeeded = h.stripe.buildEvent('checkout.session.async_payment_succeeded', paid)
      push(completed); push(succeeded); push(succeeded); push(completed)
      push(h.stripe.buildEvent('checkout.session.async_payment_succeeded', paid)) // re-sent under a new id
    } else {
      const completed = h.stripe.buildEvent('checkout.session.completed', paid)
      push(completed); push(completed); push(completed) // redeliveries of the same event
      push(h.stripe.buildEvent('checkout.session.completed', paid)) // re-sent under a new id
      push(h.stripe.buildEvent('checkout.session.completed', paid))
    }
    if (index % 3 === 1) deliveries.push({ kind: 'redirect', purchase })
  })

  // Orders that must not be granted, in the same storm: expired, failed and a wrong amount.
  const spoilers: Array<{ orderId: string, expected: string }> = []
  const spoilerItems = await seedContent(h, 30, 'spoiler')
  for (const [index, item] of spoilerItems.entries()) {
    const order = await h.app.orders.create(buyers[0]!.user.id, item)
    const sessionId = `cs_test_spoiler_${index}`
    await h.app.orders.attachCheckout(order.id, sessionId)
    const session = { id: sessionId, object: 'checkout.session', client_reference_id: order.id, metadata: { order_id: order.id }, amount_total: item.price_cents, currency: 'usd', payment_status: 'unpaid', payment_intent: null }
    if (index % 3 === 0) {
      push(h.stripe.buildEvent('checkout.session.expired', session)); spoilers.push({ orderId: order.id, expected: 'expired' })
    } else if (index % 3 === 1) {
      push(h.stripe.buildEvent('checkout.session.async_payment_failed', session)); spoilers.push({ orderId: order.id, expected: 'failed' })
    } else {
      push(h.stripe.buildEvent('checkout.session.completed', { ...session, payment_status: 'paid', amount_total: 1 })); spoilers.push({ orderId: order.id, expected: 'review' })
    }
  }
  shuffle(deliveries, seed)

  const statuses = new Map<number, number>()
  let thanked = 0
  const stormStart = Date.now()
  await pool(deliveries.map((delivery) => async () => {
    const response = delivery.kind === 'event'
      ? await h.webhook(delivery.event)
      : await h.request(buyers[delivery.purchase.userIndex]!.jar, { url: `/checkout/success?session_id=${delivery.purchase.sessionId}` })
    statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
    if (delivery.kind === 'redirect' && response.statusCode === 200 && response.body.includes('Thank you')) thanked++
  }), 50)
  t.comment(`${eventCount} events and ${deliveries.length - eventCount} redirects at concurrency 50 in ${Date.now() - stormStart} ms; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)

  t.notOk([...statuses.keys()].some((status) => status >= 500), `no 5xx, ${note}`)
  t.same([...statuses.keys()], [200], `every delivery and redirect answered 200, ${note}`)
  t.equal(thanked, deliveries.length - eventCount, `every returning buyer sees the thank-you page, ${note}`)
  const library = await h.app.db.selectFrom('library').selectAll().execute()
  t.equal(library.length, PAID_ORDERS, `exactly 1,000 grants, ${note}`)
  const orders = await h.app.db.selectFrom('orders').select(['id', 'status', 'provider_payment_id']).execute()
  const byId = new Map(orders.map((order) => [order.id, order]))
  const wrong = purchases.filter((purchase, index) => byId.get(purchase.orderId)?.status !== 'paid' || byId.get(purchase.orderId)?.provider_payment_id !== `pi_storm_${index}`)
  t.equal(wrong.length, 0, `every paid order is paid with its payment intent, ${note}`)
  t.same(new Set(library.map((row) => row.order_id)), new Set(purchases.map((purchase) => purchase.orderId)), `each grant belongs to its own paid order, ${note}`)
  t.same(spoilers.map((s) => byId.get(s.orderId)?.status), spoilers.map((s) => s.expected), `expired, failed and mismatched orders are not granted, ${note}`)
  const events = await h.app.db.selectFrom('payment_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
  const unique = new Set(deliveries.flatMap((d) => d.kind === 'event' ? [(d.event as { id: string }).id] : [])).size
  t.equal(events.n, unique, `every distinct event id is recorded once, ${note}`)
  t.comment(`figures: events=${eventCount} orders=${PAID_ORDERS} grants=${library.length} in ${Date.now() - started} ms`)
})
