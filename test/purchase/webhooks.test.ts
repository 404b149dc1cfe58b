// backends: sqlite, postgres-s3
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import t from 'tap'
import { sql } from 'kysely'
import type { Harness } from '../helpers/build.js'
import {
  buy, lastEvent, libraryRows, order, orders, paidAtStripe, paymentState, session, sessionEvent, shop, startCheckout, successPage
} from '../helpers/purchase.js'

/** A raw delivery: exactly these bytes, with this Stripe-Signature header (or none). */
async function deliverRaw (h: Harness, payload: string, signature: string | null, contentType = 'application/json') {
  const headers: Record<string, string> = { 'content-type': contentType }
  if (signature !== null) headers['stripe-signature'] = signature
  return await h.app.inject({ method: 'POST', url: '/webhooks/stripe', headers, payload })
}

const eventCount = async (h: Harness): Promise<number> => (await h.app.db.selectFrom('payment_events').select('id').execute()).length

/** An order's timeline lines (order_events), oldest first. */
const timeline = async (h: Harness, orderId: string): Promise<Array<{ kind: string, detail: string | null }>> =>
  await h.app.db.selectFrom('order_events').select(['kind', 'detail']).where('order_id', '=', orderId).orderBy('id').execute()

t.test('checkout.session.completed (paid) grants the item without the success redirect', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  const event = lastEvent(h, 'checkout.session.completed')
  // Stripe sends pretty-printed JSON with a charset: the signature covers these exact bytes.
  const payload = JSON.stringify(event, null, 2)
  const response = await deliverRaw(h, payload, h.stripe.sign(payload), 'application/json; charset=utf-8')
  t.equal(response.statusCode, 200)
  const paid = await order(h, pending.id)
  t.equal(paid.status, 'paid')
  t.ok(paid.paid_at)
  t.equal(paid.provider_payment_id, event.data.object.payment_intent)
  t.same(await libraryRows(h), [{ user_id: s.readerId, content_id: pending.content_id, order_id: pending.id }])
  t.equal(await eventCount(h), 1, 'the event is recorded by id')

  // The buyer arriving afterwards sees the thank-you page; nothing changes.
  const before = await paymentState(h)
  const page = await successPage(h, s.reader, sessionId)
  t.match(page.body, /Thank you/)
  t.same(await paymentState(h), before)
})

t.test('a redelivered event (same id) is acknowledged 200 and changes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  await paidAtStripe(s)
  const event = lastEvent(h, 'checkout.session.completed')
  t.equal((await h.webhook(event)).statusCode, 200)
  const before = await paymentState(h)
  for (let i = 0; i < 3; i++) {
    const again = await h.webhook(event)
    t.equal(again.statusCode, 200, `redelivery ${i + 1} is acknowledged`)
  }
  t.same(await paymentState(h), before, 'nothing changed')

  // The id alone decides: a second buyer's paid session arriving under an id already seen is
  // acknowledged and not acted on (Stripe never reuses ids, so this only shows the dedupe key).
  const other = await h.signIn({ email: 'other@example.com', sub: 'other' })
  const second = await startCheckout(h, other, s.slug)
  await h.stripe.pay(second.sessionId)
  const reused = sessionEvent(h, 'checkout.session.completed', second.sessionId, {}, event.id)
  t.equal((await h.webhook(reused)).statusCode, 200)
  t.equal((await order(h, second.order.id)).status, 'pending', 'the event with a seen id changed nothing')
  t.equal(await eventCount(h), 1)
})

t.test('a redelivered charge.refunded or async_payment_failed (same event id) is a duplicate: no timeline line, nothing changed', async (t) => {
  const s = await shop(t)
  const { h } = s

  // A full refund, then Stripe delivering the same event again.
  const { sessionId, order: bought } = await buy(s)
  await h.stripe.refund(sessionId)
  const refund = lastEvent(h, 'charge.refunded')
  t.equal((await h.webhook(refund)).json().outcome, 'refunded')
  let lines = await timeline(h, bought.id)
  let before = await paymentState(h)
  const refundAgain = await h.webhook(refund)
  t.equal(refundAgain.statusCode, 200, 'the redelivered refund is acknowledged')
  t.equal(refundAgain.json().outcome, 'duplicate')
  t.same(await timeline(h, bought.id), lines, 'no line added to the refunded order\'s timeline')
  t.same(await paymentState(h), before, 'nothing changed')

  // A bank transfer that failed, then the same failure event again.
  const other = await h.signIn({ email: 'other@example.com', sub: 'other' })
  const failing = await startCheckout(h, other, s.slug)
  await h.stripe.pay(failing.sessionId, 'bank_transfer')
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.completed'))).json().outcome, 'processing')
  await h.stripe.settle(failing.sessionId, 'failed')
  const failed = lastEvent(h, 'checkout.session.async_payment_failed')
  t.equal((await h.webhook(failed)).json().outcome, 'failed')
  lines = await timeline(h, failing.order.id)
  before = await paymentState(h)
  const failedAgain = await h.webhook(failed)
  t.equal(failedAgain.statusCode, 200, 'the redelivered failure is acknowledged')
  t.equal(failedAgain.json().outcome, 'duplicate')
  t.same(await timeline(h, failing.order.id), lines, 'no line added to the failed order\'s timeline')
  t.same(await paymentState(h), before, 'nothing changed')
  t.equal((await order(h, failing.order.id)).status, 'failed')
})

t.test('a re-sent event for the same session (new id) is acknowledged and grants nothing more', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.completed'))).statusCode, 200)
  const paidAt = (await order(h, pending.id)).paid_at
  for (const type of ['checkout.session.completed', 'checkout.session.async_payment_succeeded']) {
    const resent = await h.webhook(sessionEvent(h, type, sessionId))
    t.equal(resent.statusCode, 200, `${type} with a new id`)
  }
  t.equal((await order(h, pending.id)).paid_at, paidAt, 'paid once')
  t.equal((await libraryRows(h)).length, 1)
  t.equal(await eventCount(h), 3, 'each new id is recorded')
})

t.test('bad deliveries are answered 400 and change nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { order: pending } = await paidAtStripe(s)
  const event = lastEvent(h, 'checkout.session.completed')
  const payload = JSON.stringify(event)
  const now = Math.floor(Date.now() / 1000)
  const before = await paymentState(h)

  const cases: Array<[string, () => Promise<{ statusCode: number }>]> = [
    ['a forged signature (another secret)', async () => await h.webhook(event, { secret: 'whsec_forged' })],
    ['a signature of other bytes', async () => await deliverRaw(h, payload, h.stripe.sign(payload.replace('"paid"', '"paid" '), now))],
    ['a tampered body under a valid signature', async () => await deliverRaw(h, payload.replace('"amount_total":500', '"amount_total":5'), h.stripe.sign(payload, now))],
    ['a stale timestamp (older than 300 s)', async () => await h.webhook(event, { timestamp: now - 301 })],
    ['a much older replay', async () => await h.webhook(event, { timestamp: now - 3 * 24 * 3600 })],
    ['a missing Stripe-Signature header', async () => await h.webhook(event, { signature: null })],
    ['an empty Stripe-Signature header', async () => await h.webhook(event, { signature: '' })],
    ['a malformed Stripe-Signature header', async () => await h.webhook(event, { signature: 'not-a-signature' })],
    ['a header without v1', async () => await h.webhook(event, { signature: `t=${now}` })],
    ['signed garbage (not JSON)', async () => await deliverRaw(h, 'this is not json {', h.stripe.sign('this is not json {'))],
    ['signed JSON that is not an object', async () => await deliverRaw(h, '[1,2,3]', h.stripe.sign('[1,2,3]'))],
    ['signed JSON null', async () => await deliverRaw(h, 'null', h.stripe.sign('null'))],
    ['signed JSON that is not an event', async () => await deliverRaw(h, '{"hello":"world"}', h.stripe.sign('{"hello":"world"}'))],
    ['signed event without data.object', async () => {
      const body = JSON.stringify({ id: 'evt_no_data', type: 'checkout.session.completed', data: {} })
      return await deliverRaw(h, body, h.stripe.sign(body))
    }],
    ['an empty body', async () => await deliverRaw(h, '', h.stripe.sign(''))]
  ]
  for (const [name, send] of cases) {
    const response = await send()
    t.equal(response.statusCode, 400, `${name}: 400`)
  }
  t.same(await paymentState(h), before, 'nothing changed')
  t.equal((await order(h, pending.id)).status, 'pending')
  t.same(await libraryRows(h), [])

  // The same event, correctly signed and fresh, still works afterwards.
  t.equal((await h.webhook(event, { timestamp: now - 299 })).statusCode, 200, 'a 299 s old signature is inside the tolerance')
  t.equal((await order(h, pending.id)).status, 'paid')
})

t.test('the webhook answers JSON, needs no CSRF token and takes no session cookie', async (t) => {
  const s = await shop(t)
  const { h } = s
  const response = await h.webhook(h.stripe.buildEvent('customer.created', { id: 'cus_1', object: 'customer' }))
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /application\/json/)
  t.notOk(response.headers['set-cookie'], 'no cookie is set')
  const bad = await h.webhook(h.stripe.buildEvent('customer.created', {}), { signature: null })
  t.equal(bad.statusCode, 400)
  t.match(bad.headers['content-type'], /application\/json/)
})

t.test('events of other types are answered 200 and ignored', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId } = await paidAtStripe(s)
  const before = await paymentState(h)
  for (const type of ['payment_intent.succeeded', 'charge.succeeded', 'customer.created', 'checkout.session.updated_by_future_api']) {
    const response = await h.webhook(sessionEvent(h, type, sessionId))
    t.equal(response.statusCode, 200, type)
  }
  t.same(await paymentState(h), before, 'nothing changed')
})

t.test('a completed event for a session that is not ours is acknowledged and grants nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  const strangers = [
    sessionEvent(h, 'checkout.session.completed', sessionId, { client_reference_id: null, metadata: {} }),
    sessionEvent(h, 'checkout.session.completed', sessionId, { client_reference_id: 'no-such-order', metadata: { order_id: 'no-such-order' } }),
    // Our order id, but a session other than the one stored on the order.
    sessionEvent(h, 'checkout.session.completed', sessionId, { id: 'cs_test_someone_else' })
  ]
  for (const event of strangers) t.equal((await h.webhook(event)).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'pending')
  t.same(await libraryRows(h), [])
})

t.test('checkout.session.expired marks the order expired; a later completed event grants nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await startCheckout(h, s.reader, s.slug)
  await h.stripe.expire(sessionId)
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.expired'))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'expired')
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.completed', sessionId, { status: 'complete', payment_status: 'paid' }))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'expired')
  t.same(await libraryRows(h), [])
  // The buyer can start again.
  const retry = await startCheckout(h, s.reader, s.slug)
  t.equal(retry.order.status, 'pending')
})

t.test('an expired event for a paid order changes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await buy(s)
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.expired', sessionId, { status: 'expired' }))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'paid')
  t.equal((await libraryRows(h)).length, 1)
})

t.test('checkout.session.async_payment_failed marks the order failed and grants nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s, 'bank_transfer')
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.completed'))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'pending', 'unpaid completed: still settling')
  t.equal((await order(h, pending.id)).provider_payment_id, session(h, sessionId).payment_intent, 'the payment intent is kept for a later refund')
  await h.stripe.settle(sessionId, 'failed')
  t.equal((await h.webhook(lastEvent(h, 'checkout.session.async_payment_failed'))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'failed')
  t.same(await libraryRows(h), [])
  const page = await successPage(h, s.reader, sessionId)
  t.match(page.body, /Payment not completed/)
  t.notOk(page.headers.refresh)
})

t.test('async_payment_succeeded arriving before completed grants once; the late completed changes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s, 'bank_transfer')
  await h.stripe.settle(sessionId, 'succeeded')
  const completed = lastEvent(h, 'checkout.session.completed')
  const succeeded = lastEvent(h, 'checkout.session.async_payment_succeeded')
  t.equal((await h.webhook(succeeded)).statusCode, 200)
  const paid = await order(h, pending.id)
  t.equal(paid.status, 'paid')
  t.equal((await libraryRows(h)).length, 1)
  const before = await paymentState(h)
  t.equal((await h.webhook(completed)).statusCode, 200)
  const after = await paymentState(h) as { events: unknown[] }
  t.same({ ...after, events: [] }, { ...(before as object), events: [] }, 'order and library unchanged')
  t.equal((await order(h, pending.id)).paid_at, paid.paid_at)
})

t.test('a full refund revokes access: library row gone, download 403, the library lists it as refunded without a download', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: bought } = await buy(s)
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)

  await h.stripe.refund(sessionId)
  const refund = lastEvent(h, 'charge.refunded')
  t.equal(refund.data.object.refunded, true)
  t.equal((await h.webhook(refund)).statusCode, 200)

  t.equal((await order(h, bought.id)).status, 'refunded')
  t.same(await libraryRows(h), [])
  const download = await h.request(s.reader, { url: `/content/${s.slug}/download` })
  t.equal(download.statusCode, 403)
  const library = await h.request(s.reader, { url: '/library' })
  t.match(library.body, 'A Field Guide to Testing', 'the library still lists it')
  t.match(library.body, 'Refunded', 'marked refunded')
  t.notMatch(library.body, 'No purchases yet')
  t.notMatch(library.body, `/content/${s.slug}/download`, 'without a download link')
  const content = await h.request(s.reader, { url: `/content/${s.slug}` })
  t.match(content.body, `action="/checkout/${s.slug}"`, 'the content page offers the buy form again')

  // A redelivery of the refund, a late completed event and a later visit to the success page restore nothing.
  t.equal((await h.webhook(refund)).statusCode, 200)
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.completed', sessionId))).statusCode, 200)
  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.notMatch(page.body, /Thank you/)
  t.same(await libraryRows(h), [])
  t.equal((await order(h, bought.id)).status, 'refunded')

  // Buying again after a refund works.
  const again = await buy(s)
  t.not(again.order.id, bought.id)
  t.equal((await libraryRows(h)).length, 1)
})

t.test('a charge.refunded ends access although the buyer has a pending, failed or in-review order for the same item', async (t) => {
  const s = await shop(t)
  const { h } = s
  for (const status of ['pending', 'failed', 'review'] as const) {
    // Each its own buyer, who paid once and has another order of the item that never paid.
    const email = `${status}@example.com`
    const buyer = await h.signIn({ email, sub: status })
    const { sessionId, order: paid } = await startCheckout(h, buyer, s.slug)
    await h.stripe.pay(sessionId)
    t.equal((await successPage(h, buyer, sessionId)).statusCode, 200)
    const sibling = await h.app.db.insertInto('orders').values({
      id: randomUUID(), user_id: paid.user_id, content_id: paid.content_id, amount_cents: paid.amount_cents, currency: paid.currency, status, provider: 'stripe'
    }).returning('id').executeTakeFirstOrThrow()
    t.equal((await h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 200, `${status}: downloads while paid`)

    await h.stripe.refund(sessionId)
    const refunded = await h.webhook(lastEvent(h, 'charge.refunded'))
    t.equal(refunded.json().outcome, 'refunded')
    t.equal((await order(h, paid.id)).status, 'refunded')
    t.equal((await order(h, sibling.id)).status, status, `${status}: the other order is left as it was`)
    t.same((await libraryRows(h)).filter((row) => row.order_id === paid.id || row.order_id === sibling.id), [], `${status}: no library row, neither by the refunded order nor moved to the ${status} one`)
    t.equal((await h.request(buyer, { url: `/content/${s.slug}/download` })).statusCode, 403, `${status}: the download is refused`)
  }
})

t.test('a partial refund keeps access; the rest refunded later revokes it', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: bought } = await buy(s)
  await h.stripe.refund(sessionId, 200)
  const partial = lastEvent(h, 'charge.refunded')
  t.equal(partial.data.object.refunded, false)
  t.equal((await h.webhook(partial)).statusCode, 200)
  t.equal((await order(h, bought.id)).status, 'paid')
  t.equal((await libraryRows(h)).length, 1)
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 200)

  await h.stripe.refund(sessionId)
  t.equal((await h.webhook(lastEvent(h, 'charge.refunded'))).statusCode, 200)
  t.equal((await order(h, bought.id)).status, 'refunded')
  t.same(await libraryRows(h), [])
})

t.test('a refund for a payment we do not know is acknowledged and revokes nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  await buy(s)
  const before = await paymentState(h) as { events: unknown[] }
  const stranger = h.stripe.buildEvent('charge.refunded', { id: 'ch_x', object: 'charge', payment_intent: 'pi_unknown', refunded: true })
  t.equal((await h.webhook(stranger)).statusCode, 200)
  const noIntent = h.stripe.buildEvent('charge.refunded', { id: 'ch_y', object: 'charge', payment_intent: null, refunded: true })
  t.equal((await h.webhook(noIntent)).statusCode, 200)
  const after = await paymentState(h) as { events: unknown[] }
  t.same({ ...after, events: [] }, { ...before, events: [] })
  t.equal((await orders(h))[0]!.status, 'paid')
})

t.test('a full refund that arrives before checkout.session.completed: the late completed event grants nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  const completed = lastEvent(h, 'checkout.session.completed')
  await h.stripe.refund(sessionId)
  // Stripe guarantees no order: the refund is delivered first.
  t.equal((await h.webhook(lastEvent(h, 'charge.refunded'))).statusCode, 200)
  t.equal((await h.webhook(completed)).statusCode, 200)
  t.same(await libraryRows(h), [], 'nothing granted')
  t.equal((await order(h, pending.id)).status, 'refunded')
  const page = await successPage(h, s.reader, sessionId)
  t.notMatch(page.body, /Thank you/, 'the success redirect grants nothing either')
  t.same(await libraryRows(h), [])
})

/** A trigger that refuses to record the event `id` (SQLite's RAISE, or PostgreSQL's RAISE EXCEPTION). */
async function injectFault (h: Harness, id: string): Promise<void> {
  const sqlite = h.app.database.sqlite
  if (sqlite !== undefined) {
    sqlite.exec(`CREATE TRIGGER fail_one BEFORE INSERT ON payment_events WHEN NEW.id = '${id}' BEGIN SELECT RAISE(ABORT, 'injected fault'); END`)
    return
  }
  await sql.raw(`CREATE FUNCTION fail_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = '${id}' THEN RAISE EXCEPTION 'injected fault'; END IF; RETURN NEW; END $$`).execute(h.app.db)
  await sql.raw('CREATE TRIGGER fail_one BEFORE INSERT ON payment_events FOR EACH ROW EXECUTE FUNCTION fail_one()').execute(h.app.db)
}

async function removeFault (h: Harness): Promise<void> {
  const sqlite = h.app.database.sqlite
  if (sqlite !== undefined) { sqlite.exec('DROP TRIGGER fail_one'); return }
  await sql.raw('DROP TRIGGER fail_one ON payment_events').execute(h.app.db)
  await sql.raw('DROP FUNCTION fail_one()').execute(h.app.db)
}

t.test('a batch of webhooks in which one event fails: the others commit and are answered 200, the failing one 500 and applied on redelivery', async (t) => {
  const s = await shop(t)
  const { h } = s
  const buyers = [s.reader, await h.signIn({ email: 'b@example.com', sub: 'b' }), await h.signIn({ email: 'c@example.com', sub: 'c' })]
  const started = []
  for (const jar of buyers) {
    const one = await startCheckout(h, jar, s.slug)
    await h.stripe.pay(one.sessionId)
    started.push(one)
  }
  const events = started.map((one) => sessionEvent(h, 'checkout.session.completed', one.sessionId))
  const failing = events[1]!
  // The middle event's record cannot be written: a fault inside that one event's savepoint.
  await injectFault(h, failing.id)

  // Count the outermost transactions that committed, to be sure the three were applied as one
  // batch (a first attempt without savepoints is rolled back when an item fails).
  const runner = h.app.database.runner
  const transaction = runner.transaction.bind(runner)
  const inside = new AsyncLocalStorage<true>()
  let commits = 0
  runner.transaction = async (fn) => {
    if (inside.getStore() !== undefined) return await transaction(fn)
    const result = await inside.run(true, async () => await transaction(fn))
    commits++
    return result
  }
  const answers = await Promise.all(events.map(async (event) => await h.webhook(event)))
  runner.transaction = transaction
  t.equal(commits, 1, 'one batch, one commit')
  t.same(answers.map((a) => a.statusCode), [200, 500, 200])
  t.equal((await order(h, started[0]!.order.id)).status, 'paid')
  t.equal((await order(h, started[1]!.order.id)).status, 'pending', 'the failing event undid only itself')
  t.equal((await order(h, started[2]!.order.id)).status, 'paid')
  t.equal(await eventCount(h), 2, 'its event id was not recorded, so Stripe\'s retry is not a duplicate')

  await removeFault(h)
  const redelivered = await h.webhook(failing)
  t.equal(redelivered.statusCode, 200)
  t.equal(JSON.parse(redelivered.body).outcome, 'granted', 'applied on redelivery')
  t.equal((await order(h, started[1]!.order.id)).status, 'paid')
  t.equal((await libraryRows(h)).length, 3)
})
