// Pages: the catalogue and a content page, anonymous and signed in, against bare Fastify serving
// a string as long as the catalogue page; every configuration and the yardstick in one round robin.
import { randomBytes } from 'node:crypto'
import { AFTER, backends, builds, configOf, type PageTarget, recordGoal, rows, RUNS, SECONDS, startInstance, YARDSTICK } from '../context.js'
import { cannon, cpuSeconds, fmt, log, median, ROOT } from '../lib.js'

const METRICS_ON = 'catalogue anonymous, metrics on'

/**
 * An instance of this tree with METRICS_TOKEN set, on the first configuration: measured in the
 * same round robin, right after the same page with metrics off, so their ratio is the cost of
 * metrics. Scraped once first, so the registry is as a running Prometheus leaves it.
 */
async function metricsTarget (): Promise<PageTarget | undefined> {
  const backend = backends[0]
  if (backend === undefined) return undefined
  const token = randomBytes(16).toString('hex')
  const started = await startInstance(backend, 'metrics on', { METRICS_TOKEN: token })
  const scrape = await fetch(`${started.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })
  if (scrape.status === 404 && AFTER.dir !== ROOT) {
    // A past commit in this tree's place (BENCH_AFTER) from before /metrics existed.
    log(`metrics on: ${AFTER.label} has no /metrics; the metrics row is left out`)
    started.child.kill()
    return undefined
  }
  if (scrape.status !== 200) throw new Error(`metrics on: /metrics answered ${scrape.status}`)
  await scrape.arrayBuffer()
  return { label: METRICS_ON, url: `${started.url}/`, backend, build: AFTER, pid: started.child.pid }
}

/** `base`: the yardstick server (bench/baseline-server.ts). */
export async function pages (base: string): Promise<void> {
  // One round robin for every configuration and build: the machine's noise falls on all of them alike.
  const pageTargets: PageTarget[] = [{ label: 'baseline', url: `${base}/html` }]
  for (const backend of backends) {
    for (const instance of backend.apps) {
      const item = `${instance.url}/content/bench-item-5000`
      const build = instance.build
      const pid = instance.pid
      pageTargets.push(
        { label: 'catalogue anonymous', url: `${instance.url}/`, backend, build, pid },
        { label: 'catalogue signed in', url: `${instance.url}/`, headers: backend.signedIn, backend, build, pid },
        { label: 'content page anonymous', url: item, backend, build, pid },
        { label: 'content page signed in', url: item, headers: backend.signedIn, backend, build, pid }
      )
      // The before build is measured where a goal is (the run's time).
      if (build !== AFTER) pageTargets.splice(pageTargets.length - 2, 1)
    }
  }
  const withMetrics = await metricsTarget()
  if (withMetrics !== undefined) {
    const off = pageTargets.findIndex((t) => t.backend === withMetrics.backend && t.build === AFTER && t.label === 'catalogue anonymous')
    pageTargets.splice(off + 1, 0, withMetrics)
  }
  const key = (t: PageTarget): string => `${t.backend === undefined ? YARDSTICK : configOf(t.backend, t.build!)}: ${t.label}`
  const pageRps = new Map<string, number[]>(pageTargets.map((t) => [key(t), []]))
  const pageP99 = new Map<string, number[]>(pageTargets.map((t) => [key(t), []]))
  const cpuPerRequest = new Map<string, number[]>(pageTargets.map((t) => [key(t), []]))
  log('warming up page routes')
  for (const target of pageTargets) await cannon({ url: target.url, headers: target.headers, connections: 16, duration: 1 })
  for (let run = 1; run <= RUNS; run++) {
    for (const target of pageTargets) {
      const cpuBefore = target.pid === undefined ? undefined : cpuSeconds(target.pid)
      const result = await cannon({ url: target.url, headers: target.headers, connections: 16, duration: SECONDS })
      const cpuAfter = target.pid === undefined ? undefined : cpuSeconds(target.pid)
      if (cpuBefore !== undefined && cpuAfter !== undefined && result.requests.total > 0) cpuPerRequest.get(key(target))!.push((cpuAfter - cpuBefore) / result.requests.total * 1e6)
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${key(target)}: ${result.non2xx} non-2xx, ${result.errors} errors`)
      pageRps.get(key(target))!.push(result.requests.average)
      pageP99.get(key(target))!.push(result.latency.p99)
      log(`run ${run} ${key(target)}: ${fmt(result.requests.average)} req/s, p99 ${result.latency.p99} ms`)
    }
  }
  const baselineRps = median(pageRps.get(key(pageTargets[0]!))!)
  rows.push({ config: YARDSTICK, scenario: 'bare Fastify, fixed HTML string of the catalogue page size', metric: 'req/s', app: '-', baseline: fmt(baselineRps), ratio: '1.00', goal: '', runs: pageRps.get(key(pageTargets[0]!))!.map((v) => fmt(v)).join(' / ') })
  const pageGoals: Record<string, [number, string, number]> = {
    'catalogue anonymous': [1, 'catalogue, 10,000 items, anonymous, vs bare Fastify serving the same bytes', 0.7],
    'catalogue signed in': [2, 'catalogue, signed in, vs bare Fastify', 0.5],
    'content page signed in': [3, 'content page, signed in, vs bare Fastify', 0.5]
  }
  for (const target of pageTargets.slice(1)) {
    if (target === withMetrics) continue
    const rps = median(pageRps.get(key(target))!)
    const ratio = rps / baselineRps
    const pageGoal = pageGoals[target.label]
    const what = target.label.startsWith('catalogue') ? '10,000 items, first page of 24' : 'one paid item, buy form'
    rows.push({ config: configOf(target.backend!, target.build!), scenario: `${target.label} (${what}), p99 ${fmt(median(pageP99.get(key(target))!), 1)} ms`, metric: 'req/s', app: fmt(rps), baseline: fmt(baselineRps), ratio: ratio.toFixed(2), goal: pageGoal === undefined ? '' : `≥ ${pageGoal[2].toFixed(2)}`, runs: pageRps.get(key(target))!.map((v) => fmt(v)).join(' / ') })
    if (pageGoal !== undefined) recordGoal(pageGoal[0], `${pageGoal[1]} (${target.backend!.label})`, `≥ ${pageGoal[2]}`, target.build!, ratio.toFixed(2), ratio >= pageGoal[2])
  }
  if (withMetrics !== undefined) metricsRow(withMetrics, key, pageRps, cpuPerRequest)
  cpuRows(pageTargets.slice(1), key, cpuPerRequest)
}

/**
 * The app's CPU time per request (µs, user + system, from /proc), per page and build: on a
 * machine whose other tenants take its cores now and then, rates swing by a third between runs
 * while the CPU a request costs does not. With a before build, each page's after/before ratio.
 */
function cpuRows (targets: PageTarget[], key: (t: PageTarget) => string, cpu: Map<string, number[]>): void {
  for (const target of targets) {
    const runs = cpu.get(key(target))!
    if (runs.length === 0 || target.label === METRICS_ON) continue
    const before = builds.length > 1 && target.build === AFTER ? targets.find((t) => t.label === target.label && t.backend === target.backend && t.build !== AFTER) : undefined
    const beforeRuns = before === undefined ? [] : cpu.get(key(before))!
    const ratio = beforeRuns.length === 0 ? undefined : median(runs) / median(beforeRuns)
    rows.push({
      config: configOf(target.backend!, target.build!),
      scenario: `${target.label}: the app's CPU per request${ratio === undefined ? '' : ', after / before (lower is faster)'}`,
      metric: 'CPU µs/request',
      app: fmt(median(runs), 1),
      baseline: beforeRuns.length === 0 ? '-' : fmt(median(beforeRuns), 1),
      ratio: ratio === undefined ? '' : ratio.toFixed(2),
      goal: ratio === undefined ? '' : '≤ 1.05',
      runs: runs.map((v) => fmt(v, 1)).join(' / ')
    })
    if (ratio !== undefined) recordGoal(15, `${target.label}: CPU per request, after / before (${target.backend!.label})`, '≤ 1.05', AFTER, ratio.toFixed(2), ratio <= 1.05)
  }
}

/** Metrics on vs off: the same page, build and database, one instance with METRICS_TOKEN. */
function metricsRow (on: PageTarget, key: (t: PageTarget) => string, pageRps: Map<string, number[]>, cpu: Map<string, number[]>): void {
  const offKey = key({ ...on, label: 'catalogue anonymous' })
  const onRps = median(pageRps.get(key(on))!)
  const offRps = median(pageRps.get(offKey)!)
  // Per run too: each on/off pair ran back to back, so the pairs' ratios show the noise.
  const pairs = pageRps.get(key(on))!.map((v, i) => (v / pageRps.get(offKey)![i]!).toFixed(2)).join(' / ')
  const ratio = onRps / offRps
  rows.push({ config: configOf(on.backend!, AFTER), scenario: `catalogue anonymous with METRICS_TOKEN set vs the same instance kind without (pairs: ${pairs})`, metric: 'req/s', app: fmt(onRps), baseline: fmt(offRps), ratio: ratio.toFixed(2), goal: '≥ 0.95', runs: pageRps.get(key(on))!.map((v) => fmt(v)).join(' / ') })
  recordGoal(14, `catalogue with metrics on vs off (${on.backend!.label})`, '≥ 0.95', AFTER, ratio.toFixed(2), ratio >= 0.95)
  // The same pair by CPU per request: what metrics cost, whatever the machine's other tenants do.
  const onCpu = median(cpu.get(key(on))!)
  const offCpu = median(cpu.get(offKey)!)
  const cpuRatio = offCpu / onCpu
  rows.push({ config: configOf(on.backend!, AFTER), scenario: 'catalogue anonymous with METRICS_TOKEN set vs without: requests per CPU-second of the app (off CPU per request / on)', metric: 'ratio', app: `${fmt(onCpu, 1)} µs`, baseline: `${fmt(offCpu, 1)} µs`, ratio: cpuRatio.toFixed(2), goal: '≥ 0.95', runs: cpu.get(key(on))!.map((v) => fmt(v, 1)).join(' / ') })
  recordGoal(14, `catalogue with metrics on vs off, requests per CPU-second (${on.backend!.label})`, '≥ 0.95', AFTER, cpuRatio.toFixed(2), cpuRatio >= 0.95)
}
