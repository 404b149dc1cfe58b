// How often Mollie's unsigned webhook may make the app ask Mollie (DESIGN "Trust (round 3)"):
// one lookup at a time and at most one per 10 seconds for a payment of ours (the rest 503 with
// Retry-After, so Mollie sends them again), at most 30 a minute per client for any other id.
import t from 'tap'
import { createMollieWebhookGate } from '../../src/modules/purchase/mollie-webhooks.js'
import { lookups, mollieShop, startMollie, testClock, webhook } from '../helpers/mollie-shop.js'
import { libraryRows, order } from '../helpers/purchase.js'

const forged = (n: number): string => `tr_forged${String(n).padStart(4, '0')}`

t.test('forty forged ids from one client make at most 30 Mollie lookups, and every one is answered 200', async (t) => {
  const s = await mollieShop(t)
  const before = lookups(s.mollie)
  const answers = []
  for (let n = 0; n < 40; n++) answers.push(await webhook(s.h, forged(n), '203.0.113.7'))
  t.ok(answers.every((a) => a.statusCode === 200), 'all answered 200, as Mollie asks for ids it does not know')
  t.ok(answers.every((a) => a.body.ignored === true), 'and ignored')
  t.equal(lookups(s.mollie) - before, 30, 'thirty lookups, then none')

  // Forty at once are held to the same allowance.
  const burst = await Promise.all(Array.from({ length: 40 }, async (_, n) => await webhook(s.h, forged(100 + n), '203.0.113.8')))
  t.ok(burst.every((a) => a.statusCode === 200))
  t.equal(lookups(s.mollie) - before, 60, 'another client has its own thirty')

  // A minute later the first client may ask again.
  s.clock.advance(60_000)
  await webhook(s.h, forged(200), '203.0.113.7')
  t.equal(lookups(s.mollie) - before, 61, 'a new minute, a new allowance')
})

t.test('a second notification for our payment within 10 seconds is answered 503 with Retry-After and no lookup; after the window it is looked up and applied', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  const first = await webhook(s.h, paymentId)
  t.equal(first.statusCode, 200)
  t.equal(first.body.outcome, 'processing', 'the open payment is looked up')
  t.equal(lookups(s.mollie, paymentId), 1)

  s.mollie.setStatus(paymentId, 'paid')
  s.clock.advance(4_000)
  const early = await webhook(s.h, paymentId)
  t.equal(early.statusCode, 503, 'Mollie is asked to send it again')
  t.equal(early.retryAfter, '6', 'Retry-After: the seconds left of the window')
  t.equal(lookups(s.mollie, paymentId), 1, 'no lookup')
  t.equal((await order(s.h, orderId)).status, 'pending')

  s.clock.advance(5_999)
  t.equal((await webhook(s.h, paymentId)).statusCode, 503, 'still inside the window a millisecond before its end')
  t.equal(lookups(s.mollie, paymentId), 1)

  s.clock.advance(1)
  const again = await webhook(s.h, paymentId)
  t.equal(again.statusCode, 200)
  t.equal(again.body.outcome, 'granted', 'the notification sent again is looked up and applied: no change is dropped')
  t.equal(lookups(s.mollie, paymentId), 2)
  t.equal((await order(s.h, orderId)).status, 'paid')
  t.equal((await libraryRows(s.h)).length, 1)
})

t.test('two notifications for one payment at the same moment make one lookup; the other is 503 and applied when it comes again', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  s.mollie.setStatus(paymentId, 'paid')
  const both = await Promise.all([webhook(s.h, paymentId), webhook(s.h, paymentId)])
  t.same(both.map((a) => a.statusCode).sort(), [200, 503], 'one looked up, one asked to come again')
  t.ok(both.find((a) => a.statusCode === 503)!.retryAfter, 'with Retry-After')
  t.equal(both.find((a) => a.statusCode === 200)!.body.outcome, 'granted')
  t.equal(lookups(s.mollie, paymentId), 1, 'one lookup')

  s.clock.advance(10_000)
  const retried = await webhook(s.h, paymentId)
  t.equal(retried.statusCode, 200)
  t.equal(retried.body.outcome, 'duplicate', 'the retry sees nothing new')
  t.equal(lookups(s.mollie, paymentId), 2)
  t.equal((await order(s.h, orderId)).status, 'paid')
})

t.test('our pending payment is still looked up when its client has used up its lookups for other ids', async (t) => {
  const s = await mollieShop(t)
  const { paymentId, orderId } = await startMollie(s)
  for (let n = 0; n < 40; n++) await webhook(s.h, forged(n))
  t.equal(lookups(s.mollie), 30 + lookups(s.mollie, paymentId), 'the forged ids used the allowance')
  t.equal(lookups(s.mollie, paymentId), 0)
  const hook = await webhook(s.h, paymentId)
  t.equal(hook.statusCode, 200)
  t.equal(hook.body.outcome, 'processing', 'our payment is looked up all the same')
  t.equal(lookups(s.mollie, paymentId), 1)
  s.mollie.setStatus(paymentId, 'paid')
  s.clock.advance(10_000)
  t.equal((await webhook(s.h, paymentId)).body.outcome, 'granted')
  t.equal((await order(s.h, orderId)).status, 'paid')
})

t.test('a lookup still running when its window ends still holds off the next notification for that payment', async (t) => {
  const clock = testClock(0)
  const gate = createMollieWebhookGate({ isOurs: async (id) => id.startsWith('tr_ours'), now: clock.now })
  const first = await gate.admit('tr_ours', 'mollie')
  t.equal(first.kind, 'lookup')
  clock.advance(25_000)
  t.same(await gate.admit('tr_ours', 'mollie'), { kind: 'later', retryAfterSeconds: 1 }, 'one lookup at a time, however long it takes')
  if (first.kind === 'lookup') first.done()
  t.equal((await gate.admit('tr_ours', 'mollie')).kind, 'lookup', 'once it is done and the window is over, the next is looked up')
  t.equal((await gate.admit('tr_ours2', 'mollie')).kind, 'lookup', 'other payments of ours are not held by it')
})
