// `npm run bench`: the app in production mode in its own process, in two configurations side by
// side: SQLite + a content folder (the default) and PostgreSQL + an S3-compatible store (a
// throwaway cluster from Debian's postgresql, s3rver in its own process). A Stripe-compatible
// server and an OIDC provider beside them, the yardsticks (bare Fastify, @fastify/static, nginx)
// in processes of their own, autocannon and a byte-counting client driving them. Every figure is
// a median of several runs, and every throughput is also a ratio against a yardstick measured in
// the same run, because the machine is small and shared. Writes bench/results.md, the goals of
// issue 15 in a table at its top.
//
// BENCH_ONLY=pages,downloads,webhooks,success,search,scale,start,memory,pdf runs some scenarios;
// BENCH_BACKENDS=sqlite,postgres some configurations (both by default);
// BENCH_BEFORE=<commit-ish> also builds that commit in a temporary git worktree and measures it
// beside this tree in every goal's scenario, alternating, for the "before" column.
//
// Each scenario is a file of bench/scenarios/; what they share (settings, configurations, builds,
// the report's rows) is bench/context.ts, the seeding bench/seed.ts, the report bench/report.ts.
import { createWriteStream } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  addBeforeBuild, type Backend, type BackendName, backends, BIG, cleanup, HUGE, ITEMS, only, SCENARIOS, scenarioStart, SEARCH_ITEMS, smallItem,
  SMALL_ITEMS, staticDir, wanted
} from './context.js'
import { fmt, freePort, log, pdfStream, type Started, startProcess } from './lib.js'
import { writeReport } from './report.js'
import { downloads } from './scenarios/downloads.js'
import { memory } from './scenarios/memory.js'
import { pages } from './scenarios/pages.js'
import { pdf } from './scenarios/pdf.js'
import { scale, type ScaleFigures, scaleReport } from './scenarios/scale.js'
import { search } from './scenarios/search.js'
import { startTime } from './scenarios/start.js'
import { successRedirect } from './scenarios/success.js'
import { webhooks } from './scenarios/webhooks.js'
import { growCatalogue, setUp } from './seed.js'

/** The yardsticks (bench/baseline-server.ts) serve the same bytes as the big PDFs, from a folder of their own, and a string as long as the catalogue page. */
async function startYardstick (pageBytes: number): Promise<{ base: string, process: Started }> {
  await mkdir(staticDir, { recursive: true })
  await pipeline(Readable.from(pdfStream(BIG)), createWriteStream(join(staticDir, 'big.pdf')))
  await pipeline(Readable.from(pdfStream(HUGE)), createWriteStream(join(staticDir, 'huge.pdf')))
  const basePort = await freePort()
  const base = `http://127.0.0.1:${basePort}`
  log(`catalogue page is ${pageBytes} bytes; starting the yardstick server with a string of that size`)
  const process = await startProcess('baseline', ['--import=tsx', 'bench/baseline-server.ts'], {
    PORT: String(basePort),
    HTML_BYTES: String(pageBytes),
    CONTENT_DIR: staticDir,
    NODE_ENV: 'production'
  }, `${base}/html`)
  return { base, process }
}

/** Grows each configuration's catalogue to `total` items. */
async function grow (which: Backend[], total: number): Promise<void> {
  for (const backend of which) {
    log(`${backend.label}: growing the catalogue to ${fmt(total)} items`)
    const seedStart = Date.now()
    await growCatalogue(backend, await smallItem(backend), total)
    log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`)
  }
}

/** Every scenario but pdf, on the configurations set up (and seeded) by setUp(). */
async function sharedScenarios (): Promise<number> {
  // setUp() adds each configuration to `backends` as soon as it has something to close.
  for (const name of wanted as BackendName[]) await setUp(name)
  if (backends.length === 0) throw new Error('no configuration to measure')
  const pageBytes = backends[0]!.pageBytes
  const sqlite = backends.find((b) => b.name === 'sqlite')
  const postgres = backends.find((b) => b.name === 'postgres')

  // 6a. scale, at 1,000 items
  const scaleSmall = new Map<string, ScaleFigures>()
  if (only('scale')) {
    scenarioStart(`scale at ${fmt(SMALL_ITEMS)} items`)
    await scale(SMALL_ITEMS, scaleSmall)
  }
  await grow(backends, ITEMS)
  const yardstick = await startYardstick(pageBytes)

  // 1. pages, 2. downloads, 3. webhooks, 4. success redirect, 7. npm start, 8. memory
  if (only('pages')) {
    scenarioStart('pages')
    await pages(yardstick.base)
  }
  if (only('downloads')) {
    scenarioStart('downloads')
    await downloads(yardstick.base, yardstick.process.child.pid!)
  }
  if (only('webhooks')) {
    scenarioStart('webhooks')
    await webhooks()
  }
  if (only('success')) {
    scenarioStart('success')
    await successRedirect()
  }
  if (only('start')) {
    scenarioStart('start')
    await startTime(sqlite ?? postgres!)
  }
  if (only('memory')) {
    scenarioStart('memory')
    await memory()
  }

  // 6b and 5. scale at 100,000 items, catalogue search
  if (only('scale') || only('search')) await grow(only('scale') ? backends : [sqlite].filter((b) => b !== undefined), SEARCH_ITEMS)
  if (only('scale')) {
    scenarioStart(`scale at ${fmt(SEARCH_ITEMS)} items`)
    const scaleLarge = new Map<string, ScaleFigures>()
    await scale(SEARCH_ITEMS, scaleLarge)
    scaleReport(scaleSmall, scaleLarge)
  }
  // SQLite's FTS5 at 100,000 items, under load, this tree only (the scale scenario compares builds).
  if (only('search') && sqlite !== undefined) {
    scenarioStart('search')
    await search(sqlite, yardstick.base)
  }
  return pageBytes
}

try {
  await addBeforeBuild()
  // The pdf scenario brings its own database, store and app (bench/pdf-setup.ts): BENCH_ONLY=pdf
  // seeds nothing else.
  const pageBytes = SCENARIOS.some((name) => name !== 'pdf' && only(name)) ? await sharedScenarios() : undefined
  // 9. PDF-native selling (issue 23): SQLite + folder, this tree only.
  if (only('pdf')) {
    scenarioStart('pdf')
    await pdf()
  }
  writeReport(pageBytes)
} finally {
  await cleanup()
}
