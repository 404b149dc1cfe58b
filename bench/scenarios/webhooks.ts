// Webhook ingest: signed checkout.session.completed deliveries with 20% redeliveries against a
// bare Fastify + Stripe SDK yardstick; grants must be exact.
import type autocannon from 'autocannon'
import { backends, configOf, recordGoal, rows, RUNS, stripe, WEBHOOK_ORDERS, WEBHOOK_SECRET } from '../context.js'
import { cannon, fmt, freePort, log, median, startProcess, stopProcess } from '../lib.js'

/** Posts every signed delivery once, over 32 connections: deliveries per second to the last answer. */
async function postDeliveries (url: string, signed: Array<{ body: string, signature: string }>): Promise<{ perSecond: number, result: autocannon.Result }> {
  let next = 0
  const begin = performance.now()
  let lastResponse = begin
  const result = await cannon({
    url,
    connections: 32,
    amount: signed.length,
    requests: [{
      method: 'POST',
      setupRequest: (request) => {
        // Past the end (requests prepared but never sent when the amount is reached): repeat one.
        const delivery = signed[next++] ?? signed[0]!
        return { ...request, body: delivery.body, headers: { 'content-type': 'application/json', 'stripe-signature': delivery.signature } }
      },
      onResponse: () => { lastResponse = performance.now() }
    }]
  })
  // autocannon ends a run of fixed amount on its one-second tick: the time to the last answer is taken here.
  return { perSecond: signed.length / ((lastResponse - begin) / 1000), result }
}

export async function webhooks (): Promise<void> {
  // The yardstick: a bare Fastify route verifying the same deliveries with the Stripe SDK, posted
  // by the same client just before each app run (the same bodies and signatures).
  const port = await freePort()
  const yardstick = `http://127.0.0.1:${port}/webhooks/stripe`
  const baseline = await startProcess('webhook baseline', ['--import=tsx', 'bench/webhook-baseline-server.ts'], { PORT: String(port), STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, NODE_ENV: 'production' }, /webhook baseline ready/)
  try {
    // Its JIT warmed as the apps' are by the scenarios before: deliveries of events of no order.
    const warm = Array.from({ length: WEBHOOK_ORDERS }, (_, i) => JSON.stringify(stripe.buildEvent('checkout.session.completed', { id: `cs_warm_${i}`, object: 'checkout.session', payment_status: 'paid' }), null, 2))
    await postDeliveries(yardstick, warm.map((body) => ({ body, signature: stripe.sign(body) })))
    interface Figures { eventsPerSecond: number[], baseline: number[], p99: number[], baselineP99: number[], grants: string[], exact: boolean }
    const figures = new Map<string, Figures>()
    for (let run = 1; run <= RUNS; run++) {
      for (const backend of backends) {
        const { db, runner } = backend.handle
        const contentIds = await runner.all(db.selectFrom('content').select('id').where('slug', 'like', 'bench-item-%').where('price_cents', '>', 0).orderBy('id').limit(4 * WEBHOOK_ORDERS))
        for (const instance of backend.apps) {
          const config = configOf(backend, instance.build)
          const f = figures.get(config) ?? { eventsPerSecond: [], baseline: [], p99: [], baselineP99: [], grants: [], exact: true }
          figures.set(config, f)
          const buyer = await backend.users.upsert({ provider: 'bench', subject: `webhook-buyer-${instance.build.name}-${run}`, email: `buyer-${instance.build.name}-${run}@example.com`, emailVerified: true, name: `Buyer ${run}` })
          const items = contentIds.slice(((run - 1) % 4) * WEBHOOK_ORDERS, ((run - 1) % 4 + 1) * WEBHOOK_ORDERS)
          const bodies = await runner.transaction(async () => await Promise.all(items.map(async ({ id }, index) => {
            const order = await backend.orders.create(buyer.id, (await backend.catalog.findById(id))!)
            const sessionId = `cs_bench_${instance.build.name}_${run}_${index}_${order.id.slice(0, 8)}`
            await backend.orders.attachCheckout(order.id, sessionId)
            const event = stripe.buildEvent('checkout.session.completed', {
              id: sessionId,
              object: 'checkout.session',
              mode: 'payment',
              status: 'complete',
              payment_status: 'paid',
              amount_total: order.amount_cents,
              currency: order.currency,
              client_reference_id: order.id,
              metadata: { order_id: order.id },
              payment_intent: `pi_bench_${instance.build.name}_${run}_${index}`
            })
            return JSON.stringify(event, null, 2)
          })))
          // 20% redeliveries of events from the same batch, mixed in at random places.
          const deliveries = [...bodies, ...bodies.slice(0, WEBHOOK_ORDERS / 5)]
          for (let i = deliveries.length - 1; i > 0; i--) {
            const j = Math.floor(Math.random() * (i + 1));
            [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!]
          }
          const signed = deliveries.map((body) => ({ body, signature: stripe.sign(body) }))
          const yard = await postDeliveries(yardstick, signed)
          if (yard.result['2xx'] !== signed.length) throw new Error(`webhook baseline: ${yard.result['2xx']} 2xx of ${signed.length}`)
          const app = await postDeliveries(`${instance.url}/webhooks/stripe`, signed)
          const granted = (await runner.first(db.selectFrom('library').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', buyer.id)))!.n
          const paid = (await runner.first(db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', buyer.id).where('status', '=', 'paid')))!.n
          const ok = app.result['2xx'] === signed.length && granted === WEBHOOK_ORDERS && paid === WEBHOOK_ORDERS
          f.eventsPerSecond.push(app.perSecond)
          f.baseline.push(yard.perSecond)
          f.p99.push(app.result.latency.p99)
          f.baselineP99.push(yard.result.latency.p99)
          f.grants.push(`${granted}${ok ? '' : ` (${app.result['2xx']} 2xx, ${paid} paid: WRONG)`}`)
          f.exact &&= ok
          log(`run ${run} ${config} webhooks: ${signed.length} deliveries, ${fmt(app.perSecond)}/s (baseline ${fmt(yard.perSecond)}/s), p99 ${app.result.latency.p99} ms, ${app.result['2xx']} 2xx, ${granted} grants, ${paid} paid`)
        }
      }
    }
    for (const backend of backends) {
      for (const instance of backend.apps) {
        const config = configOf(backend, instance.build)
        const f = figures.get(config)!
        const ratio = median(f.eventsPerSecond) / median(f.baseline)
        rows.push({ config, scenario: `webhook ingest: ${WEBHOOK_ORDERS} pending orders, ${WEBHOOK_ORDERS * 1.2} signed deliveries (20% redeliveries), 32 concurrent; baseline: bare Fastify + Stripe SDK constructEvent, same deliveries`, metric: 'events/s', app: fmt(median(f.eventsPerSecond)), baseline: fmt(median(f.baseline)), ratio: ratio.toFixed(2), goal: '≥ 0.60', runs: `${f.eventsPerSecond.map((v) => fmt(v)).join(' / ')} vs ${f.baseline.map((v) => fmt(v)).join(' / ')}` })
        rows.push({ config, scenario: 'webhook ingest latency', metric: 'p99 ms', app: fmt(median(f.p99), 1), baseline: fmt(median(f.baselineP99), 1), ratio: '', goal: '', runs: f.p99.map((v) => fmt(v, 1)).join(' / ') })
        rows.push({ config, scenario: 'webhook ingest: grants after each run (must be exactly 2,000)', metric: 'grants', app: f.grants.join(' / '), baseline: '', ratio: '', goal: '= 2,000', runs: '' })
        recordGoal(7, `webhook ingest vs bare Fastify + Stripe SDK, same deliveries (${backend.label})`, '≥ 0.6, grants exact', instance.build, `${ratio.toFixed(2)}, grants ${f.exact ? 'exact' : 'WRONG'}`, ratio >= 0.6 && f.exact)
      }
    }
  } finally {
    await stopProcess(baseline.child)
  }
}
