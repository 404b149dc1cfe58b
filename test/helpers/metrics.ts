// Scraping /metrics in a test: the exposition text, its metric names, a series' value, the
// values one label takes.
import type { FastifyInstance } from 'fastify'

export const METRICS_TOKEN = 'metrics-token-for-the-suite-0123'

/** GET /metrics with the token; throws unless it answers 200. */
export async function scrape (app: FastifyInstance): Promise<string> {
  const response = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  if (response.statusCode !== 200) throw new Error(`/metrics answered ${response.statusCode}: ${response.body.slice(0, 300)}`)
  return response.body
}

/** Every metric name in an exposition: each sample's name and each # TYPE line's. */
export function metricNames (text: string): Set<string> {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const typed = /^# TYPE (\S+) /.exec(line)
    if (typed !== null) names.add(typed[1]!)
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)
    if (sample !== null) names.add(sample[1]!)
  }
  return names
}

/** The value of the series `name{labels}` (labels in any order, all of them given), or undefined. */
export function sampleValue (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (match === null || match[1] !== name) continue
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((label) => [label[1], label[2]]))
    if (Object.keys(labels).length === Object.keys(found).length && Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3])
  }
  return undefined
}

/** The values the label `label` takes in the samples of `name`. */
export function labelValues (text: string, name: string, label: string): Set<string> {
  const values = new Set<string>()
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const value = new RegExp(`[{,]${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(line)
    if (value !== null) values.add(value[1]!)
  }
  return values
}

/** The metric names the contract binds (docs/metrics.md and the dashboard rely on them). */
export const CONTRACT_NAMES = [
  'http_request_duration_seconds', 'pdfmarket_webhook_events_total', 'pdfmarket_orders', 'pdfmarket_outbox_pending',
  'pdfmarket_outbox_oldest_pending_seconds', 'pdfmarket_jobs_pending', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds'
]
