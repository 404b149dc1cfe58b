// bench/results.md (or bench/tmp/results-partial.md for a partial run): the goals table, every
// figure, and how each is taken.
import { writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import {
  AFTER, backends, builds, goals, MEMORY_VIEWS, NO_GROWTH_MB, rows, RUNS, SEARCH_ITEMS, SEARCH_WORD, SECONDS, SMALL_ITEMS, UNCACHED_REQUESTS,
  WEBHOOK_ORDERS, loads
} from './context.js'
import { elapsedSeconds, fmt, log, MB, ROOT } from './lib.js'

/** Writes the report; `pageBytes` is the anonymous catalogue page's size (the pages yardstick's), undefined when only the pdf scenario ran. */
export function writeReport (pageBytes: number | undefined): void {
  const postgres = backends.find((b) => b.name === 'postgres')
  const cpu = cpus()
  const table = [
    '| configuration | scenario | metric | app (median) | baseline (median) | ratio | goal | runs |',
    '| --- | --- | --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.config} | ${r.scenario} | ${r.metric} | ${r.app} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.runs} |`)
  ].join('\n')
  const buildNames = builds.map((b) => b.label)
  const goalTable = [
    `| figure | goal | ${builds.length > 1 ? `${builds[0]!.label} | ` : ''}after (${AFTER.commit}) | met? |`,
    `| --- | --- | ${builds.length > 1 ? '---: | ' : ''}---: | --- |`,
    ...goals.sort((a, b) => a.order - b.order).map((g) => `| ${g.figure} | ${g.goal} | ${builds.length > 1 ? `${g.values.get('before') ?? ''} | ` : ''}${g.values.get('after') ?? ''} | ${g.met ?? ''} |`)
  ].join('\n')
  const report = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts). Do not edit by hand.

- Date: ${new Date().toISOString()}
- Machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 1024 / MB, 1)} GB RAM, load average at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}
- Node ${process.version}; app: \`node dist/src/server.js\`, NODE_ENV=production, LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=0
- Configurations: ${backends.map((b) => b.label).join(', ')}${postgres === undefined ? '' : ' (PostgreSQL: a throwaway cluster of Debian\'s PostgreSQL on loopback, fsync and synchronous_commit on, shared_buffers 128MB; S3: s3rver in its own process, objects in a temporary folder)'}
- ${RUNS} runs per scenario, ${SECONDS} s each for the timed ones, the targets of a scenario alternating; medians shown, each run's figure in the last column
- Builds: ${buildNames.join(', ')} (this tree at ${AFTER.commit})${builds.length > 1 ? '; the before build checked out in a temporary git worktree and built with its own `npm run build`, run with the same environment on the same database and store, its scenarios alternating with this tree\'s' : ''}
- Load average (1 min) when each scenario started: ${loads.join(', ')}; at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}
- Whole run: ${elapsedSeconds().toFixed(0)} s

## Goals (issues 15 and 23)

Each figure is a ratio against a baseline measured in the same run (or, where the goal is a time or a size, that figure), medians of ${RUNS}; "met?" judges the after column. How each is taken is below the detailed table.

${goalTable}

## Every figure

${table}

How each figure is taken:

- Pages: autocannon, 16 connections, every configuration and the yardstick in one round robin. The yardstick is a bare Fastify route in its own process answering a fixed HTML string as long as the anonymous catalogue page (${pageBytes === undefined ? 'not measured in this run' : `${fmt(pageBytes)} bytes`}). "Signed in" sends the session cookie got by the real OIDC flow over HTTP (GET /login, the provider's authorize URL, GET /login/callback).
- Downloads: 4 keep-alive clients (node:http) downloading the owner's 50 MB PDF again and again for ${SECONDS} s, counting bytes as they arrive. The ratio is against nginx serving the same bytes as a static file (sendfile on, one process, as the app is one), the ceiling; @fastify/static serving them with no checks is shown too. x-accel: nginx in front of an app instance started with DOWNLOAD_OFFLOAD=x-accel (the app checks and counts, nginx sends the file from the content folder). redirect: an app instance with DOWNLOAD_OFFLOAD=redirect answers 302 to a presigned URL; the client then GETs it from s3rver without the app's cookie, both requests in the time. "s3rver alone" is a presigned GET made once, with no app in the way: the ceiling of anything that comes from this S3 server. (autocannon counts a body only when it is complete: in steps of 50 MB.)
- RSS: VmRSS of the server's pid from /proc/<pid>/status sampled every 20 ms while 32 such clients download a 500 MB PDF for ${SECONDS} s, minus VmRSS just before; @fastify/static's growth under the same load is shown beside it.
- Webhooks: ${WEBHOOK_ORDERS} pending orders made with the app's orders service; one signed \`checkout.session.completed\` per order plus ${WEBHOOK_ORDERS / 5} redeliveries of the same events, shuffled and posted by autocannon over 32 connections. events/s = deliveries / wall time to the last answer; grants = library rows of that buyer afterwards, checked against 2,000 (and every order paid, every delivery 2xx). The baseline (bench/webhook-baseline-server.ts, its own process) is a bare Fastify route taking the raw body, verifying it with the Stripe SDK (\`stripe.webhooks.constructEvent\`, the same secret) and answering 200, no database: the same signed deliveries are posted to it by the same client just before each app run.
- Scale (catalogue first page \`/\` and search \`/?q=${SEARCH_WORD}\`, 1% of the items matching at every size): measured on the same app processes at ${fmt(SMALL_ITEMS)} items (before the other scenarios) and at ${fmt(SEARCH_ITEMS)} (after them; the rows are inserted by the bench while the apps run; PostgreSQL's statistics refreshed with ANALYZE, as autovacuum would). The goal figure is the server's own time (\`Server-Timing: app;dur\`) of a first request: ${UNCACHED_REQUESTS} requests one at a time, each just after the bench edits one item (another writer, so no cache of the app may answer it), p99 per run. Beside it, autocannon with 16 connections for ${Math.max(1, SECONDS / 2)} s: the client's p99 (queueing included, and the app's cache where it keeps one) and the server's own p99 under that load.
- \`npm start\`: milliseconds from spawning \`npm start\` (in the build's tree, with the bench's production environment) until /healthz answers, polled every 10 ms; one untimed start first, so that nothing has changed since the last build. Baseline: \`node dist/src/server.js\` started the same way.
- Memory: a fresh instance per configuration and build; ${fmt(MEMORY_VIEWS)} page views by autocannon (8 connections: catalogue pages 1 to 20 and content pages of thousands of different items, every other one signed in), 1 s of idle, a full garbage collection (these instances only are started with \`--expose-gc --require bench/gc-preload.cjs\`, which collects on SIGWINCH; the server is unchanged), 1 s more, then VmRSS (median of 3 samples 250 ms apart); again after a second ${fmt(MEMORY_VIEWS)}. "No growth" is at most ${NO_GROWTH_MB} MB more after the second.
- Search (SQLite + folder only): the catalogue is grown to ${fmt(SEARCH_ITEMS)} items after the other scenarios (so they keep measuring 10,000), 1% of them mentioning "${SEARCH_WORD}"; autocannon, 16 connections, against \`/?q=${SEARCH_WORD}\` (FTS5 match, bm25 order, count, page of 24 rendered; a search is kept until the database changes, so a first search is also timed: each page of the results in each order asked once) and the same bare-Fastify yardstick; the server's own time is its \`Server-Timing\` header.
- Before and after (BENCH_BEFORE): both builds run at once on the same database and store; where the before build does not know the newest migrations, they are hidden from it while it starts (it runs the older code on the newer schema, as during a rolling deploy).
- PDF (issue 23; SQLite + folder only, this tree only): a database, content folder and app instance of its own, with the setting \`stamp_pdfs\` on (so no other instance's job runner takes its PDF jobs). The PDFs are written by \`writeBigPdf\` (test/helpers/pdfs.ts: each page a line of text and a 100 KB image): 500 pages, 50 MB, and 1,000 pages, 100 MB; uploaded through the app's items service with the PDF module's hooks, as the upload form does. Buyers sign in over HTTP and own the item through an order fulfilled by the app's fulfilment function. The plain download of the same file is an admin's (admins' downloads are never stamped). Stamped vs plain: the byte-counting client, 4 clients, ${SECONDS} s each, alternating (which goes first alternating too), after the buyer's copy was made. First download: one GET to its last byte by a new buyer (the request waits while a job stamps the copy), beside an admin's plain GET; the stamp job's time is its row's \`created_at\` (added by the download) to \`done_at\` (copy stored), and pages per second is 500 over it (a job runs on one worker thread). Event-loop delay: the app runs with \`--require bench/loop-delay-preload.cjs\`, which keeps a \`monitorEventLoopDelay\` histogram (1 ms resolution; each sample is the time between two ticks of a 1 ms timer, so an idle loop reads about 1 ms) and prints and resets it on SIGURG; autocannon sends anonymous catalogue pages at a fixed 500 req/s over 8 connections, alone for ${SECONDS} s, then while 4 new buyers' first downloads (4 stamps, then 4 x 50 MB sent) and an item's 3 page images and 10-page sample (the jobs the edit form adds) run, until all are done (${SECONDS} s at least). RSS: a freshly started app process, then VmRSS of its pid every 20 ms during a new buyer's first download of the 100 MB PDF (stamp and sending), the highest of ${RUNS} runs.
- Success redirect: each checkout is started over HTTP (POST /checkout/<slug>), paid on the Stripe-compatible emulator, then GET /checkout/success is requested once per session by one autocannon connection. The server's own time is the \`Server-Timing: app;dur=\` header, Fastify's reply.elapsedTime when the reply is sent (routing, hooks, session, the Stripe retrieve on loopback, the fulfilment transaction and the page render).
`
  // A partial run (BENCH_ONLY, BENCH_BACKENDS, fewer than 3 runs) must not replace the full report.
  const partialRun = process.env.BENCH_ONLY !== undefined || process.env.BENCH_BACKENDS !== undefined || RUNS < 3
  const written = partialRun ? 'bench/tmp/results-partial.md' : 'bench/results.md'
  writeFileSync(join(ROOT, written), report)
  console.log('\n' + table + '\n')
  log(`wrote ${written}`)
}
