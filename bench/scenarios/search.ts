// Catalogue search at 100,000 items (SQLite's FTS5), under load and as a first search.
import { type Backend, type PageTarget, rows, RUNS, SEARCH_ITEMS, SEARCH_WORD, SECONDS } from '../context.js'
import { cannon, fmt, log, median, percentile } from '../lib.js'

export async function search (backend: Backend, base: string): Promise<void> {
  // The catalogue has been grown to SEARCH_ITEMS (growCatalogue), 1% of it mentioning SEARCH_WORD.
  const { db, runner } = backend.handle
  const app = backend.app
  const matching = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.or([eb('title', 'like', `%${SEARCH_WORD}%`), eb('description', 'like', `%${SEARCH_WORD}%`)]))))!.n
  log(`${fmt(matching)} items mention "${SEARCH_WORD}"`)
  const searchUrl = `${app}/?q=${SEARCH_WORD}`
  const check = await fetch(searchUrl)
  const checkBody = await check.text()
  if (check.status !== 200 || !checkBody.includes(`${matching} PDFs match`)) throw new Error(`search answered ${check.status} without "${matching} PDFs match"`)
  // Searches are kept until the database changes, so autocannon below mostly measures a search
  // asked again. A first search is measured here: every page of the results in every order,
  // each asked once (each a cache miss), one at a time, by the server's own time.
  const firstMs: number[] = []
  for (const sort of ['', 'new', 'price', 'title']) {
    for (let page = 1; page <= Math.ceil(matching / 24); page++) {
      const response = await fetch(`${searchUrl}&sort=${sort}&page=${page}`)
      await response.arrayBuffer()
      const timing = /app;dur=([\d.]+)/.exec(response.headers.get('server-timing') ?? '')
      if (response.status !== 200 || timing === null) throw new Error(`search page ${page} answered ${response.status}`)
      firstMs.push(Number(timing[1]))
    }
  }
  log(`first searches (${firstMs.length}, each a cache miss): server's own p50 ${percentile(firstMs, 50).toFixed(2)} ms, p99 ${percentile(firstMs, 99).toFixed(2)} ms`)
  const targets: PageTarget[] = [
    { label: 'baseline', url: `${base}/html` },
    { label: 'search', url: searchUrl }
  ]
  const rps = new Map<string, number[]>(targets.map((t) => [t.label, []]))
  const p99 = new Map<string, number[]>(targets.map((t) => [t.label, []]))
  const serverP99: number[] = []
  for (const target of targets) await cannon({ url: target.url, connections: 16, duration: 1 })
  for (let run = 1; run <= RUNS; run++) {
    for (const target of targets) {
      const serverMs: number[] = []
      const result = await cannon({
        url: target.url,
        connections: 16,
        duration: SECONDS,
        requests: [{
          method: 'GET',
          onResponse: (_status, _body, _context, headers) => {
            const timing = /app;dur=([\d.]+)/.exec(String((headers as Record<string, unknown> | undefined)?.['server-timing'] ?? ''))
            if (timing !== null) serverMs.push(Number(timing[1]))
          }
        }]
      })
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.label}: ${result.non2xx} non-2xx, ${result.errors} errors`)
      rps.get(target.label)!.push(result.requests.average)
      p99.get(target.label)!.push(result.latency.p99)
      if (target.label === 'search') serverP99.push(percentile(serverMs, 99))
      log(`run ${run} ${target.label}: ${fmt(result.requests.average)} req/s, p99 ${result.latency.p99} ms${target.label === 'search' ? `, server's own p99 ${percentile(serverMs, 99).toFixed(2)} ms` : ''}`)
    }
  }
  const baselineRps = median(rps.get('baseline')!)
  const searchRps = median(rps.get('search')!)
  const config = backend.label
  rows.push({ config, scenario: `catalogue search at ${fmt(SEARCH_ITEMS)} items (\`/?q=${SEARCH_WORD}\`: ${fmt(matching)} matches, best first, first page of 24), 16 connections, p99 ${fmt(median(p99.get('search')!), 1)} ms (baseline p99 ${fmt(median(p99.get('baseline')!), 1)} ms)`, metric: 'req/s', app: fmt(searchRps), baseline: fmt(baselineRps), ratio: (searchRps / baselineRps).toFixed(2), goal: '', runs: rps.get('search')!.map((v) => fmt(v)).join(' / ') })
  rows.push({ config, scenario: 'catalogue search at 100,000 items, as the client saw it (16 connections: includes queueing)', metric: 'p99 ms', app: fmt(median(p99.get('search')!), 1), baseline: fmt(median(p99.get('baseline')!), 1), ratio: (median(p99.get('search')!) / median(p99.get('baseline')!)).toFixed(2), goal: '< 20 ms', runs: p99.get('search')!.map((v) => fmt(v, 1)).join(' / ') })
  rows.push({ config, scenario: 'catalogue search at 100,000 items, server\'s own time (the same search asked again: kept until the database changes)', metric: 'p99 ms', app: fmt(median(serverP99), 2), baseline: '', ratio: '', goal: '< 20 ms', runs: serverP99.map((v) => fmt(v, 2)).join(' / ') })
  rows.push({ config, scenario: `catalogue search at 100,000 items, first search (${firstMs.length} distinct pages and orders of it, one at a time), server's own time`, metric: 'p50 / p99 ms', app: `${fmt(percentile(firstMs, 50), 2)} / ${fmt(percentile(firstMs, 99), 2)}`, baseline: '', ratio: '', goal: '< 20 ms', runs: '' })
}
