// Scale: the catalogue's first page and a search at 1,000 and at 100,000 items, the server's own
// time of a first request and the client's p99 under load.
import { backends, configOf, recordGoal, rows, RUNS, SCALE_PAGES, SEARCH_ITEMS, SECONDS, serverTiming, SMALL_ITEMS, UNCACHED_REQUESTS } from '../context.js'
import { cannon, fmt, log, median, percentile } from '../lib.js'

/** p99s of one catalogue size, by `${config}: ${page}`: the server's own time of uncached requests, and the client's under load. */
export interface ScaleFigures { uncached: number[], client: number[], clientServer: number[] }

/**
 * The catalogue's first page and a search at one catalogue size, per configuration and build:
 * 1. UNCACHED_REQUESTS requests one at a time, each just after an edit of one item by this
 *    process (another writer: every cache of the app must let it go), their server's own time
 *    (Server-Timing app;dur), p99 per run;
 * 2. autocannon, 16 connections, half of BENCH_SECONDS: p99 as the client saw it (mostly the
 *    cached path where the app caches), and the server's own p99 under that load.
 */
export async function scale (size: number, into: Map<string, ScaleFigures>): Promise<void> {
  const loadSeconds = Math.max(1, SECONDS / 2)
  for (const backend of backends) {
    for (const instance of backend.apps) {
      for (const page of SCALE_PAGES) {
        const response = await fetch(`${instance.url}${page.path}`)
        const body = await response.text()
        if (response.status !== 200 || (page.label === 'search' && !/lighthouse/i.test(body))) throw new Error(`${configOf(backend, instance.build)} ${page.label} at ${size}: ${response.status}`)
        into.set(`${configOf(backend, instance.build)}: ${page.label}`, { uncached: [], client: [], clientServer: [] })
        await cannon({ url: `${instance.url}${page.path}`, connections: 16, duration: 1 })
      }
    }
  }
  for (let run = 1; run <= RUNS; run++) {
    for (const backend of backends) {
      const { db, runner } = backend.handle
      const edit = async (): Promise<void> => { await runner.run(db.updateTable('content').set((eb) => ({ title: eb.ref('title') })).where('slug', '=', 'bench-item-1')) }
      for (const instance of backend.apps) {
        for (const page of SCALE_PAGES) {
          const figures = into.get(`${configOf(backend, instance.build)}: ${page.label}`)!
          const url = `${instance.url}${page.path}`
          const uncached: number[] = []
          for (let i = 0; i < UNCACHED_REQUESTS; i++) {
            await edit()
            const response = await fetch(url)
            await response.arrayBuffer()
            const ms = serverTiming(response.headers)
            if (response.status !== 200 || ms === undefined) throw new Error(`${url} answered ${response.status}`)
            uncached.push(ms)
          }
          const serverMs: number[] = []
          const result = await cannon({
            url,
            connections: 16,
            duration: loadSeconds,
            requests: [{ method: 'GET', onResponse: (_status, _body, _context, headers) => { const ms = serverTiming(headers); if (ms !== undefined) serverMs.push(ms) } }]
          })
          if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`)
          figures.uncached.push(percentile(uncached, 99))
          figures.client.push(result.latency.p99)
          figures.clientServer.push(percentile(serverMs, 99))
          log(`run ${run} ${configOf(backend, instance.build)} ${page.label} at ${fmt(size)} items: uncached server p50 ${percentile(uncached, 50).toFixed(2)} ms, p99 ${percentile(uncached, 99).toFixed(2)} ms; under load ${fmt(result.requests.average)} req/s, client p99 ${result.latency.p99} ms, server p99 ${percentile(serverMs, 99).toFixed(2)} ms`)
        }
      }
    }
  }
}

export function scaleReport (small: Map<string, ScaleFigures>, large: Map<string, ScaleFigures>): void {
  for (const backend of backends) {
    for (const instance of backend.apps) {
      const config = configOf(backend, instance.build)
      for (const page of SCALE_PAGES) {
        const a = small.get(`${config}: ${page.label}`)
        const b = large.get(`${config}: ${page.label}`)
        if (a === undefined || b === undefined) continue
        const what = page.label === 'search' ? `search (\`${page.path}\`, 1% of the items match)` : 'first page (`/`)'
        const uncached = median(b.uncached) / median(a.uncached)
        rows.push({ config, scenario: `catalogue ${what}, server's own time of a first request (after an edit), ${UNCACHED_REQUESTS} one at a time: p99 at ${fmt(SEARCH_ITEMS)} items (app) vs at ${fmt(SMALL_ITEMS)} (baseline)`, metric: 'p99 ms', app: fmt(median(b.uncached), 2), baseline: fmt(median(a.uncached), 2), ratio: uncached.toFixed(2), goal: '≤ 1.50', runs: `${b.uncached.map((v) => fmt(v, 2)).join(' / ')} vs ${a.uncached.map((v) => fmt(v, 2)).join(' / ')}` })
        rows.push({ config, scenario: `catalogue ${what}, 16 connections, as the client saw it (includes queueing; the app's cache where it has one): p99 at ${fmt(SEARCH_ITEMS)} vs ${fmt(SMALL_ITEMS)} items; server's own p99 under that load ${fmt(median(b.clientServer), 2)} vs ${fmt(median(a.clientServer), 2)} ms`, metric: 'p99 ms', app: fmt(median(b.client), 1), baseline: fmt(median(a.client), 1), ratio: (median(b.client) / median(a.client)).toFixed(2), goal: '', runs: `${b.client.map((v) => fmt(v, 1)).join(' / ')} vs ${a.client.map((v) => fmt(v, 1)).join(' / ')}` })
        recordGoal(page.label === 'search' ? 10 : 9, `catalogue ${page.label}: p99 at ${fmt(SEARCH_ITEMS)} items / p99 at ${fmt(SMALL_ITEMS)}, server's own time of a first request (${backend.label})`, '≤ 1.5', instance.build, `${uncached.toFixed(2)} (${fmt(median(b.uncached), 1)} / ${fmt(median(a.uncached), 1)} ms)`, uncached <= 1.5)
      }
    }
  }
}
