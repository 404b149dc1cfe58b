// PDF-native selling (issue 23), SQLite + folder only, on a database, store and app instance of
// its own (bench/pdf-setup.ts) with `stamp_pdfs` on: a buyer's download is their own stamped
// copy, made by a job at their first download. Four figures:
//   - a stamped download once its copy exists vs a plain download of the same file (an admin's,
//     never stamped), 4 clients, MB/s;
//   - the first stamped download of a 50 MB, 500-page PDF (the request waits for the stamp) vs a
//     plain download of it, and the stamp job's pages per second (one job runs on one thread);
//   - the app's event-loop delay p99 under steady page traffic while four buyers' first
//     downloads (four stamps) and an item's page images and sample are made, read by a preload
//     (bench/loop-delay-preload.cjs) from inside the app process; pages alone beside it;
//   - the app process's RSS peak while a 100 MB, 1,000-page PDF is stamped.
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import type { Content } from '../../src/db/types.js'
import { AFTER, recordGoal, rows, RUNS, SECONDS, wanted } from '../context.js'
import { BIG_PAGES, HUGE_PAGES, newBuyer, type PdfBench, restartApp, setUpPdf, tearDownPdf } from '../pdf-setup.js'
import { download, fmt, log, median, rssMb } from '../lib.js'

/** Steady page traffic: anonymous catalogue pages at a fixed rate (not as fast as possible: the delay, not queueing, is measured). */
const PAGE_CONNECTIONS = 8
const PAGE_RATE = 500
/** An item's page images and sample, turned on during each event-loop run: what the edit form queues. */
const LOOK_INSIDE = { preview_pages: 3, sample_pages: 10 }
const STAMPS_AT_ONCE = 4

interface Delay { p50: number, p99: number, max: number }
interface Got { status: number, bytes: number, ms: number, headersMs: number }

export async function pdf (): Promise<void> {
  if (!wanted.includes('sqlite')) {
    log('pdf: measured on SQLite + folder only, which BENCH_BACKENDS leaves out: skipped')
    return
  }
  const begin = Date.now()
  const bench = await setUpPdf(RUNS)
  try {
    log(`pdf: set up in ${((Date.now() - begin) / 1000).toFixed(1)} s`)
    const owner = await firstDownloads(bench)
    await stampedThroughput(bench, owner)
    await loopDelayRuns(bench)
    await stampRss(bench)
  } finally {
    await tearDownPdf(bench)
  }
  log(`pdf: ${((Date.now() - begin) / 1000).toFixed(1)} s in all`)
}

const downloadUrl = (bench: PdfBench, item: Content): string => `${bench.app.url}/content/${item.slug}/download`

/** One GET read to its end (bytes counted as they come): status, bytes, time to the headers and to the last byte. */
async function fullGet (url: string, headers: Record<string, string>): Promise<Got> {
  const started = performance.now()
  const response = await fetch(url, { headers })
  const headersMs = performance.now() - started
  let bytes = 0
  for await (const chunk of response.body ?? []) bytes += (chunk as Uint8Array).byteLength
  return { status: response.status, bytes, ms: performance.now() - started, headersMs }
}

/** A buyer's download must be their copy: 200, and longer than the upload (a stamp is appended to it). */
function checkStamped (what: string, got: Got, item: Content): void {
  if (got.status !== 200) throw new Error(`pdf: ${what} answered ${got.status}`)
  if (got.bytes <= item.file_size) throw new Error(`pdf: ${what} sent ${got.bytes} bytes, not a stamped copy of the ${item.file_size} uploaded`)
}

/** How long the stamp job of an order took, from the row the download added to the copy stored (the job's row: created_at to done_at). */
async function stampJobMs (bench: PdfBench, orderId: string): Promise<number> {
  const { db, runner } = bench.handle
  const job = await runner.first(db.selectFrom('pdf_jobs').select(['status', 'created_at', 'done_at']).where('kind', '=', 'stamp').where('order_id', '=', orderId))
  if (job?.status !== 'done' || job.done_at === null) throw new Error(`pdf: the stamp job of order ${orderId} is ${job?.status ?? 'missing'}`)
  return Date.parse(job.done_at) - Date.parse(job.created_at)
}

/**
 * RUNS times: a plain download of the 50 MB, 500-page PDF (the admin's), then a new buyer's first
 * download of it (stamped by a job while the request waits). Returns the first buyer, whose copy
 * now exists.
 */
async function firstDownloads (bench: PdfBench): Promise<Record<string, string>> {
  const url = downloadUrl(bench, bench.big)
  const plain: number[] = []
  const first: number[] = []
  const jobs: number[] = []
  let owner: Record<string, string> | undefined
  for (let run = 1; run <= RUNS; run++) {
    const got = await fullGet(url, bench.admin)
    if (got.status !== 200 || got.bytes !== bench.big.file_size) throw new Error(`pdf: the admin's download answered ${got.status} with ${got.bytes} bytes`)
    plain.push(got.ms)
    const buyer = await newBuyer(bench, bench.big)
    const stamped = await fullGet(url, buyer.headers)
    checkStamped('a first download', stamped, bench.big)
    first.push(stamped.ms)
    jobs.push(await stampJobMs(bench, buyer.orderId))
    owner ??= buyer.headers
    log(`pdf run ${run}: plain download ${fmt(got.ms)} ms; first stamped download ${fmt(stamped.ms)} ms (headers after ${fmt(stamped.headersMs)} ms, stamp job ${fmt(jobs.at(-1)!)} ms, +${fmt(stamped.bytes - got.bytes)} bytes)`)
  }
  const ratio = median(first) / median(plain)
  const pagesPerSecond = BIG_PAGES / (median(jobs) / 1000)
  rows.push({
    config: bench.label,
    scenario: `first stamped download of a 50 MB, ${BIG_PAGES}-page PDF by its buyer (the request waits for the stamp job) vs a plain download of it (an admin's: never stamped), 1 client, to the last byte`,
    metric: 'ms',
    app: fmt(median(first)),
    baseline: fmt(median(plain)),
    ratio: ratio.toFixed(2),
    goal: 'reported',
    runs: first.map((ms, i) => `${fmt(ms)} vs ${fmt(plain[i]!)}`).join(' / ')
  })
  rows.push({
    config: bench.label,
    scenario: `stamping throughput: the stamp job of that ${BIG_PAGES}-page PDF, from its row to the copy kept in the store (read, incremental update, copy written and hashed); one job runs on one worker thread`,
    metric: 'pages/s per core',
    app: fmt(pagesPerSecond),
    baseline: '',
    ratio: '',
    goal: 'reported',
    runs: jobs.map((ms) => `${fmt(ms)} ms`).join(' / ')
  })
  recordGoal(20, `first stamped download of a 50 MB, ${BIG_PAGES}-page PDF, time / a plain download of it (${bench.label})`, 'reported', AFTER,
    `${ratio.toFixed(2)} (${fmt(median(first))} / ${fmt(median(plain))} ms)`, undefined)
  recordGoal(21, `stamping throughput, ${BIG_PAGES}-page PDF (${bench.label})`, 'reported', AFTER, `${fmt(pagesPerSecond)} pages/s per core`, undefined)
  return owner!
}

/** 4 clients downloading the same 50 MB PDF for SECONDS: the admin's plain file and the buyer's stored copy, RUNS times, which goes first alternating. */
async function stampedThroughput (bench: PdfBench, owner: Record<string, string>): Promise<void> {
  const url = downloadUrl(bench, bench.big)
  const plain: number[] = []
  const stamped: number[] = []
  for (let run = 1; run <= RUNS; run++) {
    const pair = [['plain (admin)', bench.admin, plain], ['stamped copy (buyer)', owner, stamped]] as const
    for (const [label, headers, into] of run % 2 === 1 ? pair : [...pair].reverse()) {
      const result = await download(url, headers, 4, SECONDS)
      if ([...result.statuses].some((status) => status !== 200)) throw new Error(`pdf: ${label} downloads answered ${[...result.statuses].join(', ')}`)
      into.push(result.mbPerSecond)
      log(`pdf run ${run} ${label} (50 MB, 4 clients): ${fmt(result.mbPerSecond)} MB/s`)
    }
  }
  const ratio = median(stamped) / median(plain)
  rows.push({
    config: bench.label,
    scenario: 'download of a 50 MB PDF, 4 clients: the buyer\'s stamped copy, once made, vs the plain file (an admin\'s download of the same item)',
    metric: 'MB/s',
    app: fmt(median(stamped)),
    baseline: fmt(median(plain)),
    ratio: ratio.toFixed(2),
    goal: '≥ 0.90',
    runs: stamped.map((v, i) => `${fmt(v)} vs ${fmt(plain[i]!)}`).join(' / ')
  })
  recordGoal(19, `stamped download (copy made) vs plain download of the same 50 MB PDF, 4 clients (${bench.label})`, '≥ 0.9', AFTER, ratio.toFixed(2), ratio >= 0.9)
}

let delayReports = 0
/** The event-loop delays the app recorded since the last call (SIGURG to its preload), in ms. */
async function loopDelay (bench: PdfBench): Promise<Delay> {
  const n = ++delayReports
  process.kill(bench.app.child.pid!, 'SIGURG')
  const line = new RegExp(`bench-loop-delay #${n} p50=([\\d.]+) p99=([\\d.]+) max=([\\d.]+)`)
  const deadline = Date.now() + 10_000
  for (;;) {
    const match = line.exec(bench.app.output())
    if (match !== null) return { p50: Number(match[1]), p99: Number(match[2]), max: Number(match[3]) }
    if (Date.now() > deadline) throw new Error(`pdf: the app printed no event-loop delay (is bench/loop-delay-preload.cjs loaded?):\n${bench.app.output()}`)
    await sleep(20)
  }
}

/** Anonymous catalogue pages at PAGE_RATE until stopped; stop() gives autocannon's result. */
function pageTraffic (url: string): { stop: () => Promise<autocannon.Result> } {
  let instance: autocannon.Instance | undefined
  let firstError: string | undefined
  const result = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon({ url: `${url}/`, connections: PAGE_CONNECTIONS, overallRate: PAGE_RATE, duration: 600, timeout: 30 }, (error, done) => {
      if (error !== null && error !== undefined) reject(error); else resolve(done)
    })
    instance.on('reqError', (error: Error) => { firstError ??= error.message })
  })
  return {
    stop: async () => {
      instance!.stop()
      const done = await result
      if (done.non2xx > 0 || done.errors > 0 || done.timeouts > 0) throw new Error(`pdf: page traffic had ${done.non2xx} non-2xx, ${done.errors} errors (${firstError ?? 'none'}), ${done.timeouts} timeouts`)
      return done
    }
  }
}

/** What the edit form does when an admin turns on Look inside and a sample: the settings and their jobs, in one transaction. */
async function turnOnLookInside (bench: PdfBench, item: Content): Promise<void> {
  const { db, runner } = bench.handle
  await runner.transaction(async () => {
    await runner.run(db.updateTable('content').set(LOOK_INSIDE).where('id', '=', item.id))
    await bench.pdf.queueFor({ id: item.id, ...LOOK_INSIDE }, 1, item.page_count)
  })
}

/** Waits (bounded) until every job of the item is done. */
async function jobsDone (bench: PdfBench, item: Content): Promise<void> {
  const { db, runner } = bench.handle
  const deadline = Date.now() + 120_000
  for (;;) {
    const jobs = await runner.all(db.selectFrom('pdf_jobs').select(['kind', 'status', 'last_error']).where('content_id', '=', item.id))
    const failed = jobs.find((job) => job.status === 'failed')
    if (failed !== undefined) throw new Error(`pdf: the ${failed.kind} job of ${item.slug} failed: ${failed.last_error ?? ''}`)
    if (jobs.length >= 2 && jobs.every((job) => job.status === 'done')) return
    if (Date.now() > deadline) throw new Error(`pdf: the jobs of ${item.slug} were not done within 120 s (${JSON.stringify(jobs)})`)
    await sleep(100)
  }
}

/**
 * RUNS times: SECONDS of page traffic alone, then the same traffic while STAMPS_AT_ONCE new
 * buyers download the 50 MB PDF for the first time (a stamp each) and an item's 3 page images
 * and 10-page sample are made; the traffic stops once all of it is done (SECONDS at least).
 */
async function loopDelayRuns (bench: PdfBench): Promise<void> {
  const alone: Delay[] = []
  const busy: Delay[] = []
  const notes: string[] = []
  const url = downloadUrl(bench, bench.big)
  for (let run = 1; run <= RUNS; run++) {
    const buyers = []
    for (let i = 0; i < STAMPS_AT_ONCE; i++) buyers.push(await newBuyer(bench, bench.big))
    await loopDelay(bench)
    const quiet = pageTraffic(bench.app.url)
    await sleep(SECONDS * 1000)
    const quietPages = await quiet.stop()
    alone.push(await loopDelay(bench))

    await loopDelay(bench)
    const traffic = pageTraffic(bench.app.url)
    const started = Date.now()
    const item = bench.looks[run - 1]!
    await turnOnLookInside(bench, item)
    const got = await Promise.all(buyers.map(async (buyer) => await fullGet(url, buyer.headers)))
    for (const one of got) checkStamped('a first download under page traffic', one, bench.big)
    await jobsDone(bench, item)
    const span = Date.now() - started
    if (span < SECONDS * 1000) await sleep(SECONDS * 1000 - span)
    const pages = await traffic.stop()
    busy.push(await loopDelay(bench))
    const note = `p99 ${fmt(busy.at(-1)!.p99, 1)} (max ${fmt(busy.at(-1)!.max, 1)}) vs ${fmt(alone.at(-1)!.p99, 1)} ms; work ${fmt(span / 1000, 1)} s; page p99 ${pages.latency.p99} vs ${quietPages.latency.p99} ms`
    notes.push(note)
    log(`pdf run ${run} event-loop delay with ${STAMPS_AT_ONCE} stamps, a render and a sample: ${note}`)
  }
  const p99 = median(busy.map((d) => d.p99))
  rows.push({
    config: bench.label,
    scenario: `event-loop delay p99 of the app (monitorEventLoopDelay, 1 ms resolution, read inside the app by bench/loop-delay-preload.cjs) under catalogue traffic (${PAGE_CONNECTIONS} connections, ${PAGE_RATE} req/s) while ${STAMPS_AT_ONCE} buyers' first downloads of the 50 MB PDF are stamped and sent and an item's 3 page images and 10-page sample are made; baseline: the same traffic alone`,
    metric: 'ms',
    app: fmt(p99, 1),
    baseline: fmt(median(alone.map((d) => d.p99)), 1),
    ratio: '',
    goal: '< 20 ms',
    runs: notes.join(' / ')
  })
  recordGoal(22, `event-loop delay p99 under page traffic while ${STAMPS_AT_ONCE} stamps, a render and a sample run (${bench.label})`, '< 20 ms', AFTER, `${fmt(p99, 1)} ms`, p99 < 20)
}

/**
 * A fresh app process (no worker thread, nothing left by the runs before), then RUNS new buyers'
 * first downloads of the 100 MB, 1,000-page PDF: the app's RSS (VmRSS, every 20 ms) from the
 * request to its last byte (the stamp, then the sending).
 */
async function stampRss (bench: PdfBench): Promise<void> {
  await restartApp(bench)
  const pid = bench.app.child.pid!
  const url = downloadUrl(bench, bench.huge)
  const peaks: number[] = []
  const notes: string[] = []
  let idleFirst = 0
  for (let run = 1; run <= RUNS; run++) {
    const buyer = await newBuyer(bench, bench.huge)
    await sleep(500)
    const idle = rssMb(pid)
    if (run === 1) idleFirst = idle
    let peak = idle
    const sampler = setInterval(() => { peak = Math.max(peak, rssMb(pid)) }, 20)
    let got: Got
    try {
      got = await fullGet(url, buyer.headers)
    } finally {
      clearInterval(sampler)
    }
    checkStamped('a first download of the 100 MB PDF', got, bench.huge)
    peaks.push(peak)
    notes.push(`${fmt(peak)} MB (idle ${fmt(idle)} MB, stamp job ${fmt(await stampJobMs(bench, buyer.orderId))} ms)`)
    log(`pdf run ${run} stamping ${fmt(HUGE_PAGES)} pages, 100 MB: RSS peak ${notes.at(-1)!}`)
  }
  const peak = Math.max(...peaks)
  const fresh = `fresh process ${fmt(idleFirst)} MB, first stamp +${fmt(peaks[0]! - idleFirst)} MB`
  rows.push({
    config: bench.label,
    scenario: `RSS peak of the app process (its worker threads included) during a buyer's first download of a 100 MB, ${fmt(HUGE_PAGES)}-page PDF (stamped while the request waits, then sent), the highest of ${RUNS}; baseline: RSS of the fresh process before the first; app VmHWM ${fmt(rssMb(pid, 'VmHWM'))} MB`,
    metric: 'MB',
    app: fmt(peak),
    baseline: fmt(idleFirst),
    ratio: '',
    goal: 'reported',
    runs: notes.join(' / ')
  })
  recordGoal(23, `RSS peak of the app while stamping a 100 MB, ${fmt(HUGE_PAGES)}-page PDF (${bench.label})`, 'reported', AFTER, `${fmt(peak)} MB (${fresh})`, undefined)
}
