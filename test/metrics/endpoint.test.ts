import { randomBytes } from 'node:crypto'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { build } from '../helpers/build.js'
import { CONTRACT_NAMES, labelValues, METRICS_TOKEN, metricNames, sampleValue, scrape } from '../helpers/metrics.js'
import { lastEvent, paidAtStripe, shop } from '../helpers/purchase.js'

t.test('without METRICS_TOKEN /metrics does not exist: 404 with or without a token', async (t) => {
  const h = await build(t)
  t.equal((await h.app.inject({ url: '/metrics' })).statusCode, 404)
  t.equal((await h.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).statusCode, 404)
  t.equal(h.app.metrics, null, 'no registry, no hook')
})

t.test('/metrics answers 401 without the token, with a wrong one, with another scheme, and shows nothing', async (t) => {
  const h = await build(t, { METRICS_TOKEN })
  for (const authorization of [undefined, 'Bearer wrong-token-wrong-token-0', `Bearer ${METRICS_TOKEN}x`, `Bearer ${METRICS_TOKEN.slice(0, -1)}`, `Basic ${METRICS_TOKEN}`, METRICS_TOKEN, 'Bearer ']) {
    const response = await h.app.inject({ url: '/metrics', headers: authorization === undefined ? {} : { authorization } })
    t.equal(response.statusCode, 401, `${authorization ?? 'no Authorization header'}: 401`)
    t.notMatch(response.body, /pdfmarket_|process_/, 'no metric in the answer')
  }
})

t.test('/metrics answers the Prometheus text format with every metric name of the contract to the bearer token, without a session', async (t) => {
  const h = await build(t, { METRICS_TOKEN })
  await h.app.inject({ url: '/' })
  const response = await h.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.notOk(response.headers['set-cookie'], 'no session cookie: a machine route')
  const names = metricNames(response.body)
  for (const name of CONTRACT_NAMES) t.ok(names.has(name), `${name} is exposed`)
  t.equal(sampleValue(response.body, 'pdfmarket_jobs_pending'), 0)
})

t.test('a request to a random URL adds no new route label value: unmatched requests share one label', async (t) => {
  const h = await build(t, { METRICS_TOKEN })
  await h.app.inject({ url: '/nope-first' })
  // The first scrape is timed after it answers: the second one's labels include /metrics.
  await scrape(h.app)
  const before = labelValues(await scrape(h.app), 'http_request_duration_seconds_count', 'route')
  const random = `/nope-${randomBytes(8).toString('hex')}`
  t.equal((await h.app.inject({ url: random })).statusCode, 404)
  t.equal((await h.app.inject({ url: `/webhooks/nope-${randomBytes(4).toString('hex')}`, method: 'POST' })).statusCode, 404)
  const text = await scrape(h.app)
  const after = labelValues(text, 'http_request_duration_seconds_count', 'route')
  t.ok(after.has('unmatched'), 'the 404s are labelled unmatched')
  t.notOk(text.includes('nope-'), 'no URL of a 404 appears in the metrics')
  t.same([...after].filter((route) => !before.has(route)), [], 'no new route label value')
})

t.test('the route label is the registered pattern /content/:slug, never the slug', async (t) => {
  const s = await shop(t, { METRICS_TOKEN })
  t.equal((await s.h.request(null, { url: `/content/${s.slug}` })).statusCode, 200)
  const text = await scrape(s.h.app)
  t.equal(sampleValue(text, 'http_request_duration_seconds_count', { method: 'GET', route: '/content/:slug', status_code: '200' }), 1)
  t.notOk(text.includes(s.slug), 'the slug is in no label')
})

t.test('webhook deliveries are counted by provider and outcome: rejected, applied, duplicate, ignored', async (t) => {
  const s = await shop(t, { METRICS_TOKEN })
  const h = s.h
  await paidAtStripe(s)
  const completed = lastEvent(h, 'checkout.session.completed')
  t.equal((await h.webhook(completed, { secret: 'whsec_forged_by_someone_else' })).statusCode, 400, 'a forged signature is refused')
  t.equal((await h.webhook(completed, { signature: null })).statusCode, 400, 'no signature is refused')
  t.equal((await h.webhook(completed)).statusCode, 200)
  t.equal((await h.webhook(completed)).statusCode, 200)
  t.equal((await h.webhook(h.stripe.buildEvent('customer.created', { id: 'cus_1', object: 'customer' }))).statusCode, 200)
  const text = await scrape(h.app)
  const count = (outcome: string): number | undefined => sampleValue(text, 'pdfmarket_webhook_events_total', { provider: 'stripe', outcome })
  t.equal(count('rejected'), 2)
  t.equal(count('applied'), 1)
  t.equal(count('duplicate'), 1)
  t.equal(count('ignored'), 1)
  t.equal(labelValues(text, 'http_request_duration_seconds_count', 'route').has('/webhooks/stripe'), true, 'the webhook route is timed under its pattern')
})

t.test('a METRICS_TOKEN shorter than 16 characters is a config error naming it; 16 is accepted', async (t) => {
  const base = { DATABASE_URL: ':memory:', SESSION_SECRET: 'x'.repeat(32) }
  const refused = ((): unknown => { try { return loadConfig({ ...base, METRICS_TOKEN: 'x'.repeat(15) }) } catch (error) { return error } })()
  t.ok(refused instanceof ConfigError, 'a ConfigError')
  t.match((refused as Error).message, /METRICS_TOKEN: must be at least 16 characters, got 15/)
  t.equal(loadConfig({ ...base, METRICS_TOKEN: 'x'.repeat(16) }).metricsToken, 'x'.repeat(16))
  t.equal(loadConfig(base).metricsToken, null, 'unset: no metrics')
})
