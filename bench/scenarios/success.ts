// The success redirect: GET /checkout/success after a payment on the emulator, timed by the app
// itself (Server-Timing).
import { type AppInstance, type Backend, backends, configOf, recordGoal, rows, RUNS, serverTiming, stripe, SUCCESS_REQUESTS } from '../context.js'
import { cannon, fmt, log, median, percentile, signIn } from '../lib.js'

export async function successRedirect (): Promise<void> {
  // Sessions are created through the app (POST /checkout/<slug>) and paid on the emulator; the
  // buyer's return to /checkout/success is then timed by the app itself (Server-Timing app;dur).
  // A shopper and a set of items per build; the builds take turns run by run.
  interface Context { backend: Backend, instance: AppInstance, shopper: { header: string }, csrf: string, slugs: Array<{ slug: string }>, serverMs: number[][], clientMs: number[][] }
  const contexts: Context[] = []
  for (const backend of backends) {
    const { db, runner } = backend.handle
    const slugs = await runner.all(db.selectFrom('content').select('slug').where('slug', 'like', 'bench-item-%').where('price_cents', '>', 0).orderBy('id', 'desc').limit(SUCCESS_REQUESTS * RUNS * backend.apps.length))
    for (const [index, instance] of backend.apps.entries()) {
      const shopper = await signIn(instance.url, `shopper-${instance.build.name}@example.com`, 'Sam Shopper')
      const itemPage = await fetch(`${instance.url}/content/bench-item-1`, { headers: { cookie: shopper.header } })
      shopper.update(itemPage)
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await itemPage.text())?.[1]
      if (csrf === undefined) throw new Error('no CSRF token on the content page')
      contexts.push({ backend, instance, shopper, csrf, slugs: slugs.slice(index * SUCCESS_REQUESTS * RUNS, (index + 1) * SUCCESS_REQUESTS * RUNS), serverMs: [], clientMs: [] })
    }
  }
  for (let run = 1; run <= RUNS; run++) {
    for (const context of contexts) {
      const { backend, instance, shopper, csrf } = context
      const { db, runner } = backend.handle
      const app = instance.url
      const sessionIds: string[] = []
      const batch = context.slugs.slice((run - 1) * SUCCESS_REQUESTS, run * SUCCESS_REQUESTS)
      for (let i = 0; i < batch.length; i += 8) {
        await Promise.all(batch.slice(i, i + 8).map(async ({ slug }) => {
          const response = await fetch(`${app}/checkout/${slug}`, {
            method: 'POST',
            redirect: 'manual',
            headers: { cookie: shopper.header, 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ _csrf: csrf }).toString()
          })
          await response.arrayBuffer()
          const id = /cs_[A-Za-z0-9_]+/.exec(response.headers.get('location') ?? '')?.[0]
          if (response.status !== 303 || id === undefined) throw new Error(`checkout answered ${response.status} ${response.headers.get('location')}`)
          await stripe.pay(id)
          sessionIds.push(id)
        }))
      }
      const serverMs: number[] = []
      let next = 0
      const result = await cannon({
        url: app,
        connections: 1,
        amount: sessionIds.length,
        headers: { cookie: shopper.header },
        requests: [{
          method: 'GET',
          setupRequest: (request) => ({ ...request, path: `/checkout/success?session_id=${sessionIds[next++] ?? sessionIds[0]!}` }),
          onResponse: (status, _body, _context, headers) => {
            const ms = serverTiming(headers)
            if (status === 200 && ms !== undefined) serverMs.push(ms)
          }
        }]
      })
      if (result['2xx'] !== sessionIds.length || serverMs.length !== sessionIds.length) throw new Error(`success: ${result['2xx']} 2xx, ${serverMs.length} timings of ${sessionIds.length}`)
      const granted = (await runner.first(db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('provider_checkout_id', 'in', sessionIds).where('status', '=', 'paid')))!.n
      if (granted !== sessionIds.length) throw new Error(`success: ${granted} of ${sessionIds.length} orders paid`)
      context.serverMs.push(serverMs)
      context.clientMs.push([result.latency.p50, result.latency.p99])
      log(`run ${run} ${configOf(backend, instance.build)} success redirect: server p50 ${percentile(serverMs, 50).toFixed(2)} ms, p99 ${percentile(serverMs, 99).toFixed(2)} ms; client p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`)
    }
  }
  for (const { backend, instance, serverMs, clientMs } of contexts) {
    const config = configOf(backend, instance.build)
    const p50s = serverMs.map((values) => percentile(values, 50))
    const p99s = serverMs.map((values) => percentile(values, 99))
    rows.push({ config, scenario: `success redirect fulfilment (${SUCCESS_REQUESTS} paid sessions per run, one at a time), server's own time`, metric: 'p50 ms', app: fmt(median(p50s), 2), baseline: '', ratio: '', goal: '', runs: p50s.map((v) => fmt(v, 2)).join(' / ') })
    rows.push({ config, scenario: 'success redirect fulfilment, server\'s own time', metric: 'p99 ms', app: fmt(median(p99s), 2), baseline: '', ratio: '', goal: '< 5 ms', runs: p99s.map((v) => fmt(v, 2)).join(' / ') })
    rows.push({ config, scenario: 'success redirect, as the client saw it (includes loopback and the HTTP client)', metric: 'p50 / p99 ms', app: `${fmt(median(clientMs.map((v) => v[0]!)), 1)} / ${fmt(median(clientMs.map((v) => v[1]!)), 1)}`, baseline: '', ratio: '', goal: '', runs: '' })
    recordGoal(8, `success fulfilment, server's own time, p99 (${backend.label})`, '< 5 ms', instance.build, `${fmt(median(p99s), 2)} ms`, median(p99s) < 5)
  }
}
