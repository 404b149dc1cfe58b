import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build } from '../helpers/build.js'
import { CONTRACT_NAMES, METRICS_TOKEN, metricNames, scrape } from '../helpers/metrics.js'

const root = join(import.meta.dirname, '..', '..')
const DOCUMENTS = ['docs/metrics.md', 'docs/grafana-dashboard.json']

/** Every metric name a document mentions: our prefixes and prom-client's default ones. */
function namesIn (text: string): Set<string> {
  return new Set(text.match(/\b(?:http|pdfmarket|process|nodejs)_[a-z0-9_]*[a-z0-9]\b/g) ?? [])
}

t.test('every metric named in docs/metrics.md and the Grafana dashboard is one a scrape of the app shows', async (t) => {
  const h = await build(t, { METRICS_TOKEN })
  await h.app.inject({ url: '/' })
  await scrape(h.app)
  const exposed = metricNames(await scrape(h.app))
  for (const document of DOCUMENTS) {
    const named = namesIn(readFileSync(join(root, document), 'utf8'))
    t.ok(named.size > 5, `${document} names metrics (${named.size})`)
    t.same([...named].filter((name) => !exposed.has(name)), [], `${document} names no metric the app does not expose`)
  }
})

t.test('docs/metrics.md names every metric of the contract, and the dashboard is JSON', async (t) => {
  const named = namesIn(readFileSync(join(root, 'docs/metrics.md'), 'utf8'))
  t.same(CONTRACT_NAMES.filter((name) => !named.has(name)), [])
  t.doesNotThrow(() => JSON.parse(readFileSync(join(root, 'docs/grafana-dashboard.json'), 'utf8')))
})
