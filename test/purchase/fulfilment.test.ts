// backends: sqlite, postgres-s3
import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import type { SessionFacts } from '../../src/modules/purchase/providers/contract.js'
import {
  buy, lastEvent, libraryRows, order, paidAtStripe, paymentState, sessionEvent, shop, startCheckout, successPage, userId
} from '../helpers/purchase.js'

const ROUNDS = 5
const CALLS_PER_ROUND = 12

/** Log calls as [object, message] pairs; the app's logger is a no-op object per app in tests. */
type LogCall = { args: unknown[] }
const messages = (calls: LogCall[]): string[] => calls.map((c) => String(c.args[1] ?? c.args[0]))
const fieldsOf = (call: LogCall): Record<string, unknown> => (call.args[0] ?? {}) as Record<string, unknown>

t.test('an amount changed at Stripe (success redirect) grants nothing, logs a warning with the order id and holds the order for review', async (t) => {
  const s = await shop(t)
  const { h } = s
  const warnings = t.capture(h.app.log, 'warn')
  const { sessionId, order: pending } = await startCheckout(h, s.reader, s.slug)
  h.stripe.patchSession(sessionId, { amount_total: 50, amount_subtotal: 50 })
  await h.stripe.pay(sessionId)

  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.notMatch(page.body, /Thank you/)
  t.match(page.body, /did not match the order/)
  t.notMatch(page.body, `/content/${s.slug}/download`)
  t.notOk(page.headers.refresh)

  const held = await order(h, pending.id)
  t.equal(held.status, 'review')
  t.equal(held.paid_at, null)
  t.same(await libraryRows(h), [])
  const mismatch = warnings().filter((c) => fieldsOf(c).orderId === pending.id)
  t.equal(mismatch.length, 1, 'one warning naming the order')
  t.match(fieldsOf(mismatch[0]!), { orderId: pending.id, expected: { amount: 500, currency: 'usd' }, received: { amount: 50, currency: 'usd' } })

  // The webhook for the same payment (same tampered amount) grants nothing either, nor a reload.
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.completed', sessionId))).statusCode, 200)
  t.match((await successPage(h, s.reader, sessionId)).body, /did not match the order/)
  t.equal((await order(h, pending.id)).status, 'review')
  t.same(await libraryRows(h), [])
  t.equal((await h.request(s.reader, { url: `/content/${s.slug}/download` })).statusCode, 403)
})

t.test('a currency changed at Stripe (success redirect) grants nothing and holds the order for review', async (t) => {
  const s = await shop(t)
  const { h } = s
  const warnings = t.capture(h.app.log, 'warn')
  const { sessionId, order: pending } = await startCheckout(h, s.reader, s.slug)
  h.stripe.patchSession(sessionId, { currency: 'eur' })
  await h.stripe.pay(sessionId)
  const page = await successPage(h, s.reader, sessionId)
  t.equal(page.statusCode, 200)
  t.notMatch(page.body, /Thank you/)
  t.equal((await order(h, pending.id)).status, 'review')
  t.same(await libraryRows(h), [])
  t.ok(warnings().some((c) => fieldsOf(c).orderId === pending.id), 'logged at warn with the order id')
})

t.test('a tampered amount or currency in a signed webhook grants nothing and holds the order for review', async (t) => {
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a smaller amount', { amount_total: 1 }],
    ['a larger amount', { amount_total: 50_000 }],
    ['no amount', { amount_total: null }],
    ['another currency', { currency: 'eur' }],
    ['no currency', { currency: null }]
  ]
  for (const [name, patch] of cases) {
    t.test(name, async (t) => {
      const s = await shop(t)
      const { h } = s
      const warnings = t.capture(h.app.log, 'warn')
      const { sessionId, order: pending } = await paidAtStripe(s)
      for (const type of ['checkout.session.completed', 'checkout.session.async_payment_succeeded']) {
        const event = h.stripe.buildEvent(type, { ...h.stripe.sessions.get(sessionId)!, ...patch })
        t.equal((await h.webhook(event)).statusCode, 200, `${type} is acknowledged`)
        t.equal((await order(h, pending.id)).status, 'review')
        t.same(await libraryRows(h), [])
      }
      t.equal(warnings().filter((c) => fieldsOf(c).orderId === pending.id).length, 1, 'one warning with the order id')

      // Once held, even the genuine session (right amount) does not grant: a person decides.
      const page = await successPage(h, s.reader, sessionId)
      t.equal(page.statusCode, 200)
      t.notMatch(page.body, /Thank you/)
      t.equal((await order(h, pending.id)).status, 'review')
      t.equal((await order(h, pending.id)).paid_at, null)
      t.same(await libraryRows(h), [])
    })
  }
})

t.test('a full refund of an order held for review marks it refunded', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s)
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.completed', sessionId, { amount_total: 1 }))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'review')
  await h.stripe.refund(sessionId)
  const refund = lastEvent(h, 'charge.refunded')
  t.equal((await h.webhook(refund)).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'refunded')
  t.same(await libraryRows(h), [])
})

t.test('fulfil moves pending -> paid once; later calls report it paid and change nothing', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await startCheckout(h, s.reader, s.slug)
  const facts = (patch: Partial<SessionFacts> = {}): SessionFacts => ({
    id: sessionId, orderId: pending.id, paymentStatus: 'paid', amountTotal: 500, currency: 'usd', paymentIntent: 'pi_direct', ...patch
  })
  t.equal((await h.app.orders.fulfil(facts({ paymentStatus: 'unpaid' }))).outcome, 'processing')
  t.equal((await h.app.orders.fulfil(facts({ orderId: 'missing' }))).outcome, 'unknown_order')
  t.equal((await h.app.orders.fulfil(facts({ id: 'cs_test_other' }))).outcome, 'unknown_order', 'a session other than the order\'s')
  t.equal((await order(h, pending.id)).status, 'pending')

  const first = await h.app.orders.fulfil(facts())
  t.equal(first.outcome, 'granted')
  t.equal(first.order?.status, 'paid')
  const state = await paymentState(h)
  for (const patch of [{}, { paymentStatus: 'unpaid' as const }, { amountTotal: 1 }]) {
    t.equal((await h.app.orders.fulfil(facts(patch))).outcome, 'already_paid', `a late call (${JSON.stringify(patch)}) still answers success`)
  }
  t.same(await paymentState(h), state, 'nothing changed')
})

t.test('an order that failed or expired is not payable later', async (t) => {
  const s = await shop(t)
  const { h } = s
  const { sessionId, order: pending } = await paidAtStripe(s, 'bank_transfer')
  await h.stripe.settle(sessionId, 'failed')
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.async_payment_failed', sessionId))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'failed')
  t.equal((await h.webhook(sessionEvent(h, 'checkout.session.async_payment_succeeded', sessionId, { payment_status: 'paid' }))).statusCode, 200)
  t.equal((await order(h, pending.id)).status, 'failed')
  t.same(await libraryRows(h), [])
})

t.test(`${ROUNDS} rounds of ${CALLS_PER_ROUND} concurrent success redirects and webhooks for one order end with one library row and one pending -> paid transition`, async (t) => {
  const s = await shop(t)
  const { h } = s
  const infos = t.capture(h.app.log, 'info')
  const warnings = t.capture(h.app.log, 'warn')
  const started = Date.now()

  for (let round = 0; round < ROUNDS; round++) {
    // A new buyer each round: the previous one owns the item.
    const email = `racer-${round}@example.com`
    const jar = await h.signIn({ email, sub: `racer-${round}` })
    const buyer = await userId(h, email)
    const { sessionId, order: pending } = await startCheckout(h, jar, s.slug)
    await h.stripe.pay(sessionId)
    infos()

    const calls: Array<() => Promise<LightMyRequestResponse>> = []
    for (let i = 0; i < CALLS_PER_ROUND; i++) {
      // Interleave the three kinds, rotated per round so each kind goes first in some round.
      const kind = (i + round) % 3
      if (kind === 0) calls.push(async () => await successPage(h, jar, sessionId))
      else {
        const type = kind === 1 ? 'checkout.session.completed' : 'checkout.session.async_payment_succeeded'
        const event = sessionEvent(h, type, sessionId, {}, `evt_race_${round}_${i}`)
        calls.push(async () => await h.webhook(event))
      }
    }
    const responses = await Promise.all(calls.map(async (call) => await call()))

    t.same(responses.map((r) => r.statusCode), Array(CALLS_PER_ROUND).fill(200), `round ${round}: every call answers 200`)
    const pages = responses.filter((r) => r.headers['content-type']?.toString().startsWith('text/html'))
    t.ok(pages.length > 0 && pages.every((p) => p.body.includes('Thank you')), `round ${round}: every success page says thank you`)

    const rows = await h.app.db.selectFrom('library').selectAll().where('user_id', '=', buyer).execute()
    t.equal(rows.length, 1, `round ${round}: exactly one library row`)
    t.equal(rows[0]!.order_id, pending.id)
    const paid = await order(h, pending.id)
    t.equal(paid.status, 'paid')
    t.equal(rows[0]!.granted_at, paid.paid_at, `round ${round}: the row was written by the one transition`)
    const granted = infos().filter((c) => messages([c])[0] === 'order paid and granted')
    t.equal(granted.length, 1, `round ${round}: one 'order paid and granted' line`)
    t.equal(fieldsOf(granted[0]!).orderId, pending.id)
    const recorded = await h.app.db.selectFrom('payment_events').select('id').where('id', 'like', `evt_race_${round}_%`).execute()
    t.equal(recorded.length, responses.length - pages.length, `round ${round}: each distinct event recorded once`)
  }
  t.same(warnings(), [], 'no warnings')
  t.equal((await libraryRows(h)).length, ROUNDS)
  t.equal((await h.app.db.selectFrom('orders').select('id').where('status', '=', 'paid').execute()).length, ROUNDS)
  t.comment(`${ROUNDS * CALLS_PER_ROUND} concurrent calls in ${Date.now() - started} ms`)
})

t.test('a purchase redone after a completed one (same buyer) is refused at checkout, so no second row can appear', async (t) => {
  const s = await shop(t)
  await buy(s)
  const again = await s.h.request(s.reader, { method: 'POST', url: `/checkout/${s.slug}`, form: { _csrf: await s.h.csrf(s.reader) } })
  t.equal(again.statusCode, 303)
  t.equal(again.headers.location, `/content/${s.slug}`)
  t.equal((await libraryRows(s.h)).length, 1)
})
