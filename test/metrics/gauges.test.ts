// backends: sqlite, postgres-s3
import t from 'tap'
import { buildApp } from '../../src/app.js'
import { METRICS_TOKEN, sampleValue, scrape } from '../helpers/metrics.js'
import { shop } from '../helpers/purchase.js'

const iso = (msAgo: number): string => new Date(Date.now() - msAgo).toISOString()
const MINUTE = 60_000

t.test('the database gauges read orders by status and the unsent outbox at scrape time, the same on two instances of one database', async (t) => {
  const s = await shop(t, { METRICS_TOKEN })
  const { app } = s.h
  const empty = await scrape(app)
  t.equal(sampleValue(empty, 'pdfmarket_orders', { status: 'paid' }), 0, 'a status without orders reads 0')
  t.equal(sampleValue(empty, 'pdfmarket_outbox_pending'), 0)
  t.equal(sampleValue(empty, 'pdfmarket_outbox_oldest_pending_seconds'), 0, 'nothing pending: 0')

  const content = await app.db.selectFrom('content').select('id').executeTakeFirstOrThrow()
  const statuses = ['paid', 'paid', 'paid', 'pending', 'refunded', 'review'] as const
  await app.db.insertInto('orders').values(statuses.map((status, i) => ({
    id: `order-${i}`, user_id: s.readerId, content_id: content.id, amount_cents: 500, currency: 'usd', status, provider_checkout_id: `cs_${i}`, provider_payment_id: null, paid_at: null
  }))).execute()
  // Not due for hours, so no sender takes them during the test; one sent long ago does not count.
  const mail = (createdMsAgo: number, sent: boolean): { kind: 'receipt', order_id: string, to_address: string, created_at: string, next_attempt_at: string, sent_at: string | null } =>
    ({ kind: 'receipt', order_id: 'order-0', to_address: 'reader@example.com', created_at: iso(createdMsAgo), next_attempt_at: iso(-3 * 60 * MINUTE), sent_at: sent ? iso(60 * MINUTE) : null })
  await app.db.insertInto('outbox').values([mail(20 * MINUTE, false), mail(2 * MINUTE, false), mail(90 * MINUTE, true)]).execute()

  // Jobs on demand like the harness's app: the upload's page-image job waits for a request.
  const second = await buildApp(s.h.config, { pdfJobs: 'on-demand' })
  t.teardown(async () => { await second.close() })
  for (const [name, instance] of [['first', app], ['second', second]] as const) {
    const text = await scrape(instance)
    t.equal(sampleValue(text, 'pdfmarket_orders', { status: 'paid' }), 3, `${name} instance: 3 paid`)
    t.equal(sampleValue(text, 'pdfmarket_orders', { status: 'pending' }), 1, `${name} instance: 1 pending`)
    t.equal(sampleValue(text, 'pdfmarket_orders', { status: 'refunded' }), 1)
    t.equal(sampleValue(text, 'pdfmarket_orders', { status: 'review' }), 1)
    t.equal(sampleValue(text, 'pdfmarket_orders', { status: 'failed' }), 0)
    t.equal(sampleValue(text, 'pdfmarket_outbox_pending'), 2, `${name} instance: the two unsent mails`)
    const oldest = sampleValue(text, 'pdfmarket_outbox_oldest_pending_seconds') ?? -1
    t.ok(oldest >= 20 * 60 && oldest < 22 * 60, `${name} instance: the oldest unsent mail is 20 minutes old (${oldest} s), the sent one is not counted`)
    t.equal(sampleValue(text, 'pdfmarket_jobs_pending'), 1, `${name} instance: the upload's page images, not made yet`)
  }
  t.equal((await s.h.request(null, { url: `/content/${s.slug}/pages/1` })).statusCode, 200, 'a request has the job run')
  t.equal(sampleValue(await scrape(second), 'pdfmarket_jobs_pending'), 0, 'once run, no job is pending')

  await app.db.updateTable('outbox').set({ sent_at: iso(0) }).execute()
  const drained = await scrape(second)
  t.equal(sampleValue(drained, 'pdfmarket_outbox_pending'), 0, 'once sent, nothing is pending')
  t.equal(sampleValue(drained, 'pdfmarket_outbox_oldest_pending_seconds'), 0)
})
