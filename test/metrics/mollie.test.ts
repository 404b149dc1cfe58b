import t from 'tap'
import { METRICS_TOKEN, sampleValue, scrape } from '../helpers/metrics.js'
import { laterWebhook, mollieShop, startMollie, webhook } from '../helpers/mollie-shop.js'

t.test('Mollie notifications are counted under provider mollie: a malformed id rejected, an unknown payment ignored, applied, then duplicate', async (t) => {
  const s = await mollieShop(t, { METRICS_TOKEN })
  const { paymentId } = await startMollie(s)
  t.equal((await webhook(s.h, 'not-a-payment-id')).statusCode, 200, 'answered 200 as Mollie asks')
  t.equal((await webhook(s.h, 'tr_unknownPayment1')).statusCode, 200)
  s.mollie.setStatus(paymentId, 'paid')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'granted')
  t.equal((await laterWebhook(s, paymentId)).body.outcome, 'duplicate')
  const text = await scrape(s.h.app)
  const count = (outcome: string): number | undefined => sampleValue(text, 'pdfmarket_webhook_events_total', { provider: 'mollie', outcome })
  t.equal(count('rejected'), 1)
  t.equal(count('ignored'), 1)
  t.equal(count('applied'), 1)
  t.equal(count('duplicate'), 1)
})
