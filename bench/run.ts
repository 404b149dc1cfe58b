// `npm run bench`: the app in production mode in its own process, in two configurations side by
// side: SQLite + a content folder (the default) and PostgreSQL + an S3-compatible store (a
// throwaway cluster from Debian's postgresql, s3rver in its own process). A Stripe-compatible
// server and an OIDC provider beside them, the yardsticks (bare Fastify, @fastify/static, nginx)
// in processes of their own, autocannon and a byte-counting client driving them. Every figure is
// a median of several runs, and every throughput is also a ratio against a yardstick measured in
// the same run, because the machine is small and shared. Writes bench/results.md, the goals of
// issue 15 in a table at its top.
//
// BENCH_ONLY=pages,downloads,webhooks,success,search,scale,start,memory runs some scenarios;
// BENCH_BACKENDS=sqlite,postgres some configurations (both by default);
// BENCH_BEFORE=<commit-ish> also builds that commit in a temporary git worktree and measures it
// beside this tree in every goal's scenario, alternating, for the "before" column.
import { randomBytes } from 'node:crypto'
import { createWriteStream, writeFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import type autocannon from 'autocannon'
import Fastify from 'fastify'
import { type Compilable, type RawBuilder, sql } from 'kysely'
import type { DatabaseHandle } from '../src/db/database.js'
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { openPostgres } from '../src/db/postgres.js'
import type { Content } from '../src/db/types.js'
import { startIdentityProvider } from '../src/dev/identity-provider.js'
import { startStripeEmulator } from '../src/dev/stripe-emulator/index.js'
import { createCatalog } from '../src/modules/catalog/catalog.js'
import { createFileStore, type Store } from '../src/storage/folder-store.js'
import { createOrders } from '../src/modules/purchase/orders.js'
import { createS3Store } from '../src/storage/s3-store.js'
import type { UploadPart } from '../src/modules/items/uploads.js'
import { createUsers } from '../src/modules/accounts/users.js'
import { pngBytes } from '../test/helpers/fixtures.js'
import { startPostgres } from '../test/helpers/postgres.js'
import { BUCKET } from '../test/helpers/s3.js'
import {
  cannon, download, elapsedSeconds, fmt, freePort, log, MB, median, pdfStream, percentile, ROOT, rssMb, signIn,
  type Started, startProcess, stopAll, stopProcess, timeToListen
} from './lib.js'
import { afterBuild, beforeBuild, type Build } from './builds.js'
import { nginxInstalled, startNginx } from './nginx.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ITEMS = 10_000
// The catalogue is seeded to 1,000 items first: the scale scenario measures there, then at
// SEARCH_ITEMS; the other scenarios run at ITEMS in between.
const SMALL_ITEMS = 1_000
// Scale: pages asked one at a time, each after a write (an edit of one item) so that no cache
// of the app can answer it, per run; their server's own p99.
const UNCACHED_REQUESTS = 100
// Memory: page views per phase, after which the idle RSS is read.
const MEMORY_VIEWS = 10_000
const NO_GROWTH_MB = 5
const WEBHOOK_ORDERS = 2_000
const SUCCESS_REQUESTS = 200
// Catalogue search runs on a bigger catalogue, seeded only for it (after the other scenarios).
const SEARCH_ITEMS = 100_000
const SEARCH_WORD = 'lighthouse'
const SCALE_PAGES = [{ label: 'first page', path: '/' }, { label: 'search', path: `/?q=${SEARCH_WORD}` }]
const BIG = 50 * MB
const HUGE = 500 * MB
const WEBHOOK_SECRET = 'whsec_bench_' + randomBytes(12).toString('hex')
const SCENARIOS = ['pages', 'downloads', 'webhooks', 'success', 'search', 'scale', 'start', 'memory']
const only = (name: string): boolean => process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY.split(',').includes(name)
for (const name of (process.env.BENCH_ONLY ?? '').split(',').filter((n) => n !== '')) {
  if (!SCENARIOS.includes(name)) throw new Error(`BENCH_ONLY: unknown scenario "${name}" (${SCENARIOS.join(', ')})`)
}

type BackendName = 'sqlite' | 'postgres'
const LABELS: Record<BackendName, string> = { sqlite: 'SQLite + folder', postgres: 'PostgreSQL + S3' }
const wanted = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',').filter((n) => n !== '')
for (const name of wanted) {
  if (!(name in LABELS)) throw new Error(`BENCH_BACKENDS: unknown configuration "${name}" (sqlite, postgres)`)
}
const explicitBackends = process.env.BENCH_BACKENDS !== undefined
// PostgreSQL as in production: every commit durable (the tests' clusters switch that off).
const POSTGRES_SETTINGS = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: '128MB' }

/** One app process of a configuration, of one build. */
interface AppInstance { build: Build, url: string, pid: number }

/** One configuration: its database and store, its services (for seeding and checking) and its app process. */
interface Backend {
  name: BackendName
  label: string
  handle: DatabaseHandle
  files: Store
  catalog: ReturnType<typeof createCatalog>
  orders: ReturnType<typeof createOrders>
  users: ReturnType<typeof createUsers>
  /** DATABASE_URL and the store's variables, for every app process of this configuration. */
  env: Record<string, string>
  /** The content folder (SQLite + folder only): nginx serves it for x-accel. */
  contentDir?: string
  /** The app of this tree (after) and, with BENCH_BEFORE, of the before build: before first. */
  apps: AppInstance[]
  /** This tree's app (seeding, search). */
  app: string
  appPid: number
  /** The reader's session cookie: valid on every instance of the configuration (one SESSION_SECRET). */
  signedIn: { cookie: string }
  big: Content
  huge: Content
  pageBytes: number
}

// ---------------------------------------------------------------- setup

const runDir = join(ROOT, 'bench', 'tmp', `run-${process.pid}`)
// The files nginx and @fastify/static serve: the same bytes as the big and huge PDFs uploaded.
const staticDir = join(runDir, 'static')
const sessionSecret = randomBytes(32).toString('hex')
const silent = Fastify({ logger: false }).log

const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET, log: () => {} })
const idp = await startIdentityProvider()
const backends: Backend[] = []
/** What startPostgres registers to be undone (tap's teardown, here). */
const teardowns: Array<() => unknown> = []
const AFTER = afterBuild()
/** The builds measured, before first: each goal's scenario alternates between them. */
const builds: Build[] = [AFTER]
const beforeRef = process.env.BENCH_BEFORE
let removeBefore: (() => Promise<void>) | undefined
/** The machine's load average (1 min) when each scenario started. */
const loads: string[] = [`start ${loadavg()[0]!.toFixed(2)}`]
const scenarioStart = (name: string): void => {
  const load = loadavg().map((v) => v.toFixed(2)).join(' ')
  loads.push(`${name} ${loadavg()[0]!.toFixed(2)}`)
  log(`${name}: load average ${load}`)
}

let cleaned: Promise<void> | undefined
async function cleanup (): Promise<void> {
  cleaned ??= (async () => {
    await stopAll()
    for (const backend of backends) {
      await backend.files.close().catch(() => {})
      await backend.handle.close().catch(() => {})
    }
    for (const teardown of teardowns.reverse()) await Promise.resolve(teardown()).catch(() => {})
    await stripe.close().catch(() => {})
    await idp.close().catch(() => {})
    await rm(runDir, { recursive: true, force: true })
    await removeBefore?.()
  })()
  await cleaned
}
// Ctrl-C: everything started is stopped all the same.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { log(`${signal}: stopping what was started`); cleanup().finally(() => process.exit(130)) })
}

function appEnv (backend: Pick<Backend, 'env'>, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    SESSION_SECRET: sessionSecret,
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_URL: stripe.url,
    OAUTH_PROVIDER: 'oidc',
    OAUTH_CLIENT_ID: 'bench-client',
    OAUTH_CLIENT_SECRET: 'bench-secret',
    OIDC_ISSUER: idp.url,
    ADMIN_EMAILS: '',
    MAX_UPLOAD_MB: '600',
    RATE_LIMIT_PER_MINUTE: '0',
    LOG_LEVEL: 'warn',
    ...backend.env,
    ...extra
  }
}

/** Another instance of the app on a configuration's database and store (DOWNLOAD_OFFLOAD=...), of one build. */
async function startInstance (backend: Pick<Backend, 'env' | 'label' | 'handle'>, name: string, extra: Record<string, string> = {}, build: Build = AFTER, nodeArgs: string[] = []): Promise<Started & { url: string, port: number }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // BENCH_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/tmp/prof" profiles the app.
  const args = [...(process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), ...nodeArgs, 'dist/src/server.js']
  const unhide = await hideNewerMigrations(backend.handle, build)
  try {
    const started = await startProcess(`${backend.label} ${name} (${build.label})`, args, appEnv(backend, port, extra), `${url}/healthz`, process.execPath, build.dir)
    return { ...started, url, port }
  } finally {
    await unhide()
  }
}

const compiled = <R>(handle: DatabaseHandle, query: RawBuilder<R>): Compilable<R> => {
  const done = query.compile(handle.db)
  return { compile: () => done }
}

/**
 * The database is migrated by this tree; a before build migrates at start-up too, and Kysely
 * refuses a database with migrations it does not know. Those rows are taken out of
 * kysely_migration while it starts (it then finds nothing to do) and put back: the older code
 * runs on the newer schema, as an older instance does during a rolling deploy.
 */
async function hideNewerMigrations (handle: DatabaseHandle, build: Build): Promise<() => Promise<void>> {
  const known = build.migrations
  if (known === undefined) return async () => {}
  const rows = await handle.runner.all(compiled(handle, sql<{ name: string, timestamp: string }>`SELECT name, timestamp FROM kysely_migration`))
  const newer = rows.filter((row) => !known.has(row.name))
  if (newer.length === 0) return async () => {}
  log(`${build.label} does not know migrations ${newer.map((r) => r.name).join(', ')}: hidden while it starts`)
  await handle.runner.transaction(async () => {
    for (const row of newer) await handle.runner.run(compiled(handle, sql`DELETE FROM kysely_migration WHERE name = ${row.name}`))
  })
  return async () => {
    await handle.runner.transaction(async () => {
      for (const row of newer) await handle.runner.run(compiled(handle, sql`INSERT INTO kysely_migration (name, timestamp) VALUES (${row.name}, ${row.timestamp})`))
    })
  }
}

/** The database and store of a configuration, or undefined when PostgreSQL is not installed here. */
async function openBackend (name: BackendName): Promise<{ handle: DatabaseHandle, files: Store, env: Record<string, string>, contentDir?: string } | undefined> {
  if (name === 'sqlite') {
    const contentDir = join(runDir, 'sqlite', 'content')
    const dbPath = join(runDir, 'sqlite', 'marketplace.db')
    await mkdir(contentDir, { recursive: true })
    return { handle: openDatabase(dbPath), files: createFileStore(contentDir), env: { DATABASE_URL: dbPath, CONTENT_DIR: contentDir }, contentDir }
  }
  const cluster = await startPostgres({ teardown: (fn) => { teardowns.push(fn) } }, { settings: POSTGRES_SETTINGS })
  if (cluster.skip !== false) {
    if (explicitBackends) throw new Error(`BENCH_BACKENDS names postgres, but ${cluster.skip}`)
    log(`PostgreSQL + S3 skipped: ${cluster.skip}`)
    return undefined
  }
  const url = await cluster.build()
  const s3 = await startProcess('s3rver', ['--import=tsx', 'bench/s3-server.ts'], {}, /s3 ready (\S+)/)
  const endpoint = s3.match!
  const prefix = 'bench'
  const files = createS3Store({
    kind: 's3', bucket: BUCKET, prefix, endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
  }, { uploadAllowanceMs: 10 * 60_000 })
  return {
    handle: openPostgres(url),
    files,
    env: { DATABASE_URL: url, STORAGE_URL: `s3://${BUCKET}/${prefix}`, S3_ENDPOINT: endpoint, S3_FORCE_PATH_STYLE: '1', AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' }
  }
}

async function setUp (name: BackendName): Promise<Backend | undefined> {
  const label = LABELS[name]
  const opened = await openBackend(name)
  if (opened === undefined) return undefined
  const { handle, files } = opened
  await migrateToLatest(handle.db)
  const { db, runner } = handle
  const catalog = createCatalog({ db, runner, changeStamp: handle.changeStamp, files, currency: 'usd', maxUploadBytes: 600 * MB })
  const orders = createOrders({ db, runner, log: silent, provider: 'stripe' })
  const users = createUsers({ db, runner, adminEmails: [], sessionDays: 30 })
  // Closed in cleanup() even if seeding fails.
  const partial = { name, label, handle, files } as Backend
  backends.push(partial)

  // Seeding through the app's own services: the two big PDFs go through the upload path
  // (stream -> hash -> temporary file and rename, or a multipart upload -> row); the rest of the
  // rows share one small file, inserted by Kysely (growCatalogue). 1,000 items first (the scale
  // scenario's small catalogue), 10,000 for the others.
  log(`${label}: seeding ${fmt(SMALL_ITEMS)} items, a 50 MB and a 500 MB PDF`)
  const upload = async (title: string, size: number, price: string): Promise<Content> => {
    async function * parts (): AsyncGenerator<UploadPart> {
      yield { type: 'file', fieldname: 'file', filename: 'bench.pdf', file: Readable.from(pdfStream(size)) }
      yield { type: 'file', fieldname: 'preview', filename: 'cover.png', file: Readable.from([pngBytes()]) }
    }
    const result = await catalog.receiveUpload(parts(), { title, description: `A ${size / MB} MB benchmark file.`, price })
    if (result.content === undefined) throw new Error(`seeding ${title}: ${JSON.stringify(result.problems)}`)
    return result.content
  }
  const huge = await upload('Bench huge 500 MB', HUGE, '9.00')
  const big = await upload('Bench big 50 MB', BIG, '7.00')
  const small = await upload('Bench small', 4096, '5.00')
  await growCatalogue(partial, small, SMALL_ITEMS)

  const apps: AppInstance[] = []
  for (const build of builds) {
    log(`${label}: starting the app of ${build.label} (node dist/src/server.js, NODE_ENV=production)`)
    const started = await startInstance({ env: opened.env, label, handle }, 'app', {}, build)
    apps.push({ build, url: started.url, pid: started.child.pid! })
  }
  const instance = apps.find((a) => a.build === AFTER)!
  const app = instance.url
  const firstPage = await fetch(`${app}/`)
  const pageBytes = (await firstPage.arrayBuffer()).byteLength
  if (firstPage.status !== 200 || pageBytes < 5000) throw new Error(`${label}: catalogue answered ${firstPage.status} with ${pageBytes} bytes`)

  const reader = await signIn(app, 'reader@example.com', 'Ada Reader')
  const readerRow = (await runner.first(db.selectFrom('users').selectAll().where('email', '=', 'reader@example.com')))!
  // The reader owns both big PDFs: an order fulfilled by the app's one fulfilment function.
  for (const item of [big, huge]) {
    const order = await orders.create(readerRow.id, item)
    await orders.attachCheckout(order.id, `cs_seed_${order.id}`)
    const result = await orders.fulfil({ id: `cs_seed_${order.id}`, orderId: order.id, paymentStatus: 'paid', amountTotal: item.price_cents, currency: item.currency, paymentIntent: null })
    if (result.outcome !== 'granted') throw new Error(`seeding ownership: ${result.outcome}`)
  }
  // One page view as a browser would make it: the session gains its CSRF secret and the
  // browser keeps the updated cookie (autocannon then replays that cookie unchanged).
  const firstSignedPage = await fetch(`${app}/`, { headers: { cookie: reader.header } })
  reader.update(firstSignedPage)
  if (firstSignedPage.status !== 200 || !(await firstSignedPage.text()).includes('Sign out')) throw new Error(`${label}: signed-in catalogue failed`)
  const signedIn = { cookie: reader.header }
  const again = await fetch(`${app}/`, { headers: signedIn })
  await again.arrayBuffer()
  if (again.headers.getSetCookie().length > 0) log('note: the signed-in catalogue still sets a cookie on every request')
  for (const other of apps) {
    const response = await fetch(`${other.url}/`, { headers: signedIn })
    if (response.status !== 200 || !(await response.text()).includes('Sign out')) throw new Error(`${label}: the signed-in catalogue of ${other.build.label} failed (${response.status})`)
  }
  return Object.assign(partial, { catalog, orders, users, env: opened.env, contentDir: opened.contentDir, apps, app, appPid: instance.pid, signedIn, big, huge, pageBytes })
}

/**
 * Grows the catalogue to `total` items with rows sharing the small item's files, in batches of
 * 500. Up to ITEMS: "Bench item N" (one in ten free); beyond: titles and descriptions drawn from
 * a small vocabulary. One item in 100 mentions SEARCH_WORD at every size (half of the later ones
 * in the title). Inserted by this process while the apps run: they see them (SQLite's FTS5 index
 * and PostgreSQL's tsvector are kept in the same transaction).
 */
async function growCatalogue (backend: Pick<Backend, 'handle'>, small: Content, total: number): Promise<void> {
  const { db, runner } = backend.handle
  const existing = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n'))))!.n
  const words = ['atlas', 'river', 'garden', 'recipes', 'history', 'notes', 'guide', 'maps', 'stories', 'letters', 'winter', 'harbour', 'forest', 'city', 'songs', 'poems', 'workbook', 'sketches', 'journal', 'field']
  const pick = (i: number, salt: number): string => words[(i * 7 + salt * 13 + Math.floor(i / 20)) % words.length]!
  const row = (n: number): ReturnType<typeof sharedFileRow> => {
    // n: the item's place in the catalogue (the 3 uploads are 1 to 3).
    if (n <= ITEMS) {
      const i = n - 3
      const mention = i % 100 === 50 ? ` A ${SEARCH_WORD} on the cover.` : ''
      return sharedFileRow(small, `bench-item-${i}`, `Bench item ${i}: a title of a typical length`, `Item ${i} of the benchmark catalogue. `.repeat(8) + mention, i % 10 === 0 ? 0 : 500)
    }
    const i = n - ITEMS
    const marked = i % 100 === 0
    const title = `${pick(i, 1)} ${pick(i, 2)}${marked && i % 200 === 0 ? ` ${SEARCH_WORD}` : ''} ${i}`
    const description = `${pick(i, 3)} and ${pick(i, 4)}: ${pick(i, 5)} ${pick(i, 6)} for the ${pick(i, 7)}. ${marked && i % 200 !== 0 ? `A ${SEARCH_WORD} on the cover. ` : ''}`.repeat(3)
    return sharedFileRow(small, `search-item-${i}`, title, description, 100 + (i % 50) * 50)
  }
  for (let from = existing + 1; from <= total; from += 500) {
    const batch = Array.from({ length: Math.min(500, total - from + 1) }, (_, k) => row(from + k))
    await runner.transaction(async () => { await runner.run(db.insertInto('content').values(batch)) })
  }
  // As autovacuum would have by then in production: the planner's statistics of the grown table.
  if (runner.dialect === 'postgres') await runner.run(compiled(backend.handle, sql`ANALYZE content`))
}

/** Catalogue rows beyond the uploads share the small item's files (pages never read them). */
function sharedFileRow (small: Content, slug: string, title: string, description: string, priceCents: number) {
  return { slug, title, description, price_cents: priceCents, currency: 'usd', file_key: small.file_key, file_name: 'bench.pdf', file_size: small.file_size, sha256: small.sha256, preview_key: small.preview_key }
}

interface PageTarget { label: string, url: string, headers?: Record<string, string>, backend?: Backend, build?: Build }
interface Row { config: string, scenario: string, metric: string, app: string, baseline: string, ratio: string, goal: string, runs: string }
const rows: Row[] = []
const YARDSTICK = 'yardstick'
let pageBytes = 0

/** A goal of issue 15: one row of the goals table, a value per build; met? judged on this tree's. */
interface Goal { order: number, figure: string, goal: string, values: Map<Build['name'], string>, met?: string }
const goals: Goal[] = []
function recordGoal (order: number, figure: string, goal: string, build: Build, value: string, met: boolean | undefined): void {
  let entry = goals.find((g) => g.figure === figure)
  if (entry === undefined) {
    entry = { order, figure, goal, values: new Map() }
    goals.push(entry)
  }
  entry.values.set(build.name, value)
  if (build === AFTER) entry.met = met === undefined ? 'reported' : met ? 'yes' : 'no'
}
/** A configuration and build as the detailed table names them. */
const configOf = (backend: Pick<Backend, 'label'>, build: Build): string => builds.length > 1 ? `${backend.label}, ${build.label}` : backend.label

try {
  if (beforeRef !== undefined) {
    const before = await beforeBuild(beforeRef)
    removeBefore = before.remove
    builds.unshift(before)
  }
  // setUp() adds each configuration to `backends` as soon as it has something to close.
  for (const name of wanted as BackendName[]) await setUp(name)
  if (backends.length === 0) throw new Error('no configuration to measure')
  pageBytes = backends[0]!.pageBytes
  const sqlite = backends.find((b) => b.name === 'sqlite')
  const postgres = backends.find((b) => b.name === 'postgres')

  // ---------------------------------------------------------- 6a. scale, at 1,000 items
  const scaleSmall = new Map<string, ScaleFigures>()
  if (only('scale')) {
    scenarioStart(`scale at ${fmt(SMALL_ITEMS)} items`)
    await scale(SMALL_ITEMS, scaleSmall)
  }
  for (const backend of backends) {
    log(`${backend.label}: growing the catalogue to ${fmt(ITEMS)} items`)
    await growCatalogue(backend, await smallItem(backend), ITEMS)
  }

  // The yardsticks serve the same bytes as the big PDFs, from a folder of their own.
  await mkdir(staticDir, { recursive: true })
  await pipeline(Readable.from(pdfStream(BIG)), createWriteStream(join(staticDir, 'big.pdf')))
  await pipeline(Readable.from(pdfStream(HUGE)), createWriteStream(join(staticDir, 'huge.pdf')))
  const basePort = await freePort()
  const base = `http://127.0.0.1:${basePort}`
  log(`catalogue page is ${pageBytes} bytes; starting the yardstick server with a string of that size`)
  const baseProcess = await startProcess('baseline', ['--import=tsx', 'bench/baseline-server.ts'], {
    PORT: String(basePort),
    HTML_BYTES: String(pageBytes),
    CONTENT_DIR: staticDir,
    NODE_ENV: 'production'
  }, `${base}/html`)

  // ---------------------------------------------------------- 1. pages
  if (only('pages')) {
    scenarioStart('pages')
    // One round robin for every configuration and build: the machine's noise falls on all of them alike.
    const pageTargets: PageTarget[] = [{ label: 'baseline', url: `${base}/html` }]
    for (const backend of backends) {
      for (const instance of backend.apps) {
        const item = `${instance.url}/content/bench-item-5000`
        const build = instance.build
        pageTargets.push(
          { label: 'catalogue anonymous', url: `${instance.url}/`, backend, build },
          { label: 'catalogue signed in', url: `${instance.url}/`, headers: backend.signedIn, backend, build },
          { label: 'content page anonymous', url: item, backend, build },
          { label: 'content page signed in', url: item, headers: backend.signedIn, backend, build }
        )
        // The before build is measured where a goal is (the run's time).
        if (build !== AFTER) pageTargets.splice(pageTargets.length - 2, 1)
      }
    }
    const key = (t: PageTarget): string => `${t.backend === undefined ? YARDSTICK : configOf(t.backend, t.build!)}: ${t.label}`
    const pageRps = new Map<string, number[]>(pageTargets.map((t) => [key(t), []]))
    const pageP99 = new Map<string, number[]>(pageTargets.map((t) => [key(t), []]))
    log('warming up page routes')
    for (const target of pageTargets) await cannon({ url: target.url, headers: target.headers, connections: 16, duration: 1 })
    for (let run = 1; run <= RUNS; run++) {
      for (const target of pageTargets) {
        const result = await cannon({ url: target.url, headers: target.headers, connections: 16, duration: SECONDS })
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
      const rps = median(pageRps.get(key(target))!)
      const ratio = rps / baselineRps
      const pageGoal = pageGoals[target.label]
      const what = target.label.startsWith('catalogue') ? '10,000 items, first page of 24' : 'one paid item, buy form'
      rows.push({ config: configOf(target.backend!, target.build!), scenario: `${target.label} (${what}), p99 ${fmt(median(pageP99.get(key(target))!), 1)} ms`, metric: 'req/s', app: fmt(rps), baseline: fmt(baselineRps), ratio: ratio.toFixed(2), goal: pageGoal === undefined ? '' : `≥ ${pageGoal[2].toFixed(2)}`, runs: pageRps.get(key(target))!.map((v) => fmt(v)).join(' / ') })
      if (pageGoal !== undefined) recordGoal(pageGoal[0], `${pageGoal[1]} (${target.backend!.label})`, `≥ ${pageGoal[2]}`, target.build!, ratio.toFixed(2), ratio >= pageGoal[2])
    }
  }

  // ---------------------------------------------------------- 2. downloads
  if (only('downloads')) {
    scenarioStart('downloads')
    // The offloading instances start now, beside each configuration's app, and stop afterwards:
    // SQLite + folder behind nginx with DOWNLOAD_OFFLOAD=x-accel, PostgreSQL + S3 with
    // DOWNLOAD_OFFLOAD=redirect (two instances on one database and bucket, as in production).
    // One of each per build; nginx in front of each x-accel instance (the first one's static
    // files are the ceiling).
    const offload: Array<Started & { url: string }> = []
    const downloadTargets: Array<PageTarget & { follow?: boolean }> = []
    const nginxUrls = new Map<Build, string>()
    if (nginxInstalled()) {
      for (const build of builds) {
        let appPort: number | undefined
        if (sqlite !== undefined) {
          const xAccel = await startInstance(sqlite, 'app (x-accel)', { DOWNLOAD_OFFLOAD: 'x-accel' }, build)
          offload.push(xAccel)
          appPort = xAccel.port
        }
        const nginx = await startNginx(join(runDir, `nginx-${build.name}`), staticDir, sqlite?.contentDir, appPort)
        offload.push(nginx)
        nginxUrls.set(build, nginx.url)
      }
      downloadTargets.push({ label: 'nginx static file (ceiling)', url: `${nginxUrls.get(AFTER)!}/files/big.pdf` })
    } else {
      log('nginx is not installed (apt-get install nginx-light): the ceiling and x-accel are left out; @fastify/static is the baseline')
    }
    downloadTargets.push({ label: '@fastify/static', url: `${base}/files/big.pdf` })
    for (const build of builds) {
      if (sqlite !== undefined) {
        const app = sqlite.apps.find((a) => a.build === build)!.url
        downloadTargets.push({ label: 'app streams from the folder', url: `${app}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite, build })
        const nginxUrl = nginxUrls.get(build)
        if (nginxUrl !== undefined) downloadTargets.push({ label: 'nginx in front, DOWNLOAD_OFFLOAD=x-accel', url: `${nginxUrl}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite, build })
      }
      if (postgres !== undefined && postgres.files.kind === 's3') {
        const app = postgres.apps.find((a) => a.build === build)!.url
        downloadTargets.push({ label: 'app streams from S3 (s3rver)', url: `${app}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres, build })
        // No goal of its own: this tree only.
        if (build === AFTER) {
          const redirect = await startInstance(postgres, 'app (redirect)', { DOWNLOAD_OFFLOAD: 'redirect' }, build)
          offload.push(redirect)
          downloadTargets.push({ label: 'DOWNLOAD_OFFLOAD=redirect: 302, then the presigned GET from s3rver', url: `${redirect.url}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres, build, follow: true })
        }
      }
    }
    if (postgres !== undefined && postgres.files.kind === 's3') {
      downloadTargets.push({ label: 's3rver alone (a presigned GET, no app)', url: await postgres.files.presign(postgres.big.file_key, { fileName: 'bench.pdf', contentType: 'application/pdf', seconds: 3600 }), backend: postgres, build: AFTER })
    }
    const key = (t: PageTarget): string => `${t.backend === undefined ? YARDSTICK : t.label.startsWith('s3rver alone') ? t.backend.label : configOf(t.backend, t.build!)}: ${t.label}`
    try {
      // Each target answers the whole file before it is timed.
      for (const target of downloadTargets) await checkDownload(key(target), target.url, target.headers ?? {}, target.follow === true)
      const throughput = new Map<string, number[]>(downloadTargets.map((t) => [key(t), []]))
      for (let run = 1; run <= RUNS; run++) {
        for (const target of downloadTargets) {
          const result = await download(target.url, target.headers ?? {}, 4, SECONDS, { follow: target.follow })
          if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${key(target)}: answered ${[...result.statuses].join(', ')}`)
          throughput.get(key(target))!.push(result.mbPerSecond)
          log(`run ${run} ${key(target)} (50 MB): ${fmt(result.mbPerSecond)} MB/s${target.follow === true ? ` (${result.redirects} redirects)` : ''}`)
        }
      }
      const ceiling = downloadTargets[0]!
      const ceilingMbs = median(throughput.get(key(ceiling))!)
      const staticMbs = median(throughput.get(key(downloadTargets.find((t) => t.label === '@fastify/static')!))!)
      for (const target of downloadTargets) {
        const mbs = median(throughput.get(key(target))!)
        const goal = target.label === 'nginx in front, DOWNLOAD_OFFLOAD=x-accel' ? '≥ 0.90' : ''
        rows.push({
          config: target.backend === undefined ? YARDSTICK : key(target).slice(0, key(target).indexOf(': ')),
          scenario: `download of a 50 MB PDF, 4 clients: ${target.label}${target.label.startsWith('app streams') && ceiling.label !== '@fastify/static' ? ` (${(mbs / staticMbs).toFixed(2)} of @fastify/static, goal ≥ 0.90)` : ''}`,
          metric: 'MB/s',
          app: target === ceiling ? '-' : fmt(mbs),
          baseline: fmt(ceilingMbs),
          ratio: (mbs / ceilingMbs).toFixed(2),
          goal,
          runs: throughput.get(key(target))!.map((v) => fmt(v)).join(' / ')
        })
        if (target.label.startsWith('app streams')) recordGoal(4, `download vs @fastify/static (${target.backend!.label}: ${target.label.replace('app streams ', 'the app streams ')})`, '≥ 0.9', target.build!, (mbs / staticMbs).toFixed(2), mbs / staticMbs >= 0.9)
        if (target.label === 'nginx in front, DOWNLOAD_OFFLOAD=x-accel' && ceiling.label !== '@fastify/static') recordGoal(6, 'download with DOWNLOAD_OFFLOAD=x-accel through nginx vs nginx serving the file directly', '≥ 0.9', target.build!, (mbs / ceilingMbs).toFixed(2), mbs / ceilingMbs >= 0.9)
      }
    } finally {
      for (const started of offload) await stopProcess(started.child)
    }

    // 32 clients each downloading a 500 MB file: the server's memory must not grow with the file.
    const rssTargets: Array<PageTarget & { pid: number }> = [{ label: '@fastify/static', url: `${base}/files/huge.pdf`, pid: baseProcess.child.pid! }]
    for (const backend of backends) {
      for (const instance of backend.apps) rssTargets.push({ label: 'app', url: `${instance.url}/content/${backend.huge.slug}/download`, headers: backend.signedIn, pid: instance.pid, backend, build: instance.build })
    }
    const growth = new Map<string, number[]>(rssTargets.map((t) => [key(t), []]))
    for (let run = 1; run <= RUNS; run++) {
      for (const target of rssTargets) {
        await sleep(300)
        const idle = rssMb(target.pid)
        let peak = idle
        const sampler = setInterval(() => { peak = Math.max(peak, rssMb(target.pid)) }, 20)
        const result = await download(target.url, target.headers ?? {}, 32, SECONDS)
        clearInterval(sampler)
        if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${key(target)}: answered ${[...result.statuses].join(', ')}`)
        growth.get(key(target))!.push(peak - idle)
        log(`run ${run} ${key(target)} 32 x 500 MB: idle ${fmt(idle)} MB, peak ${fmt(peak)} MB, ${fmt(result.mbPerSecond)} MB/s`)
      }
    }
    const staticGrowth = growth.get(key(rssTargets[0]!))!
    for (const target of rssTargets.slice(1)) {
      const appGrowth = growth.get(key(target))!
      rows.push({ config: configOf(target.backend!, target.build!), scenario: `RSS growth over idle while 32 clients download a 500 MB file (${SECONDS} s); app VmHWM ${fmt(rssMb(target.pid, 'VmHWM'))} MB; baseline: @fastify/static's growth`, metric: 'MB', app: fmt(median(appGrowth), 1), baseline: fmt(median(staticGrowth), 1), ratio: '', goal: '< 64 MB', runs: `${appGrowth.map((v) => fmt(v, 1)).join(' / ')} vs ${staticGrowth.map((v) => fmt(v, 1)).join(' / ')}` })
      recordGoal(5, `download: RSS growth, 32 clients x 500 MB (${target.backend!.label})`, '< 64 MB', target.build!, `${fmt(median(appGrowth), 1)} MB`, median(appGrowth) < 64)
    }
  }

  // ---------------------------------------------------------- 3. webhooks
  if (only('webhooks')) {
    scenarioStart('webhooks')
    await webhooks()
  }

  // ---------------------------------------------------------- 4. success redirect
  if (only('success')) {
    scenarioStart('success')
    await successRedirect()
  }

  // ---------------------------------------------------------- 7. npm start
  if (only('start')) {
    scenarioStart('start')
    await startTime(sqlite ?? postgres!)
  }

  // ---------------------------------------------------------- 8. memory
  if (only('memory')) {
    scenarioStart('memory')
    await memory()
  }

  // ---------------------------------------------------------- 6b and 5. scale at 100,000 items, catalogue search
  if (only('scale') || only('search')) {
    for (const backend of only('scale') ? backends : [sqlite].filter((b) => b !== undefined)) {
      log(`${backend.label}: growing the catalogue to ${fmt(SEARCH_ITEMS)} items`)
      const seedStart = Date.now()
      await growCatalogue(backend, await smallItem(backend), SEARCH_ITEMS)
      log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`)
    }
  }
  if (only('scale')) {
    scenarioStart(`scale at ${fmt(SEARCH_ITEMS)} items`)
    const scaleLarge = new Map<string, ScaleFigures>()
    await scale(SEARCH_ITEMS, scaleLarge)
    scaleReport(scaleSmall, scaleLarge)
  }
  // SQLite's FTS5 at 100,000 items, under load, this tree only (the scale scenario compares builds).
  if (only('search') && sqlite !== undefined) {
    scenarioStart('search')
    await search(sqlite, base)
  }

  // ---------------------------------------------------------- report
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

## Goals (issue 15)

Each figure is a ratio against a baseline measured in the same run (or, where the goal is a time or a size, that figure), medians of ${RUNS}; "met?" judges the after column. How each is taken is below the detailed table.

${goalTable}

## Every figure

${table}

How each figure is taken:

- Pages: autocannon, 16 connections, every configuration and the yardstick in one round robin. The yardstick is a bare Fastify route in its own process answering a fixed HTML string as long as the anonymous catalogue page (${fmt(pageBytes)} bytes). "Signed in" sends the session cookie got by the real OIDC flow over HTTP (GET /login, the provider's authorize URL, GET /login/callback).
- Downloads: 4 keep-alive clients (node:http) downloading the owner's 50 MB PDF again and again for ${SECONDS} s, counting bytes as they arrive. The ratio is against nginx serving the same bytes as a static file (sendfile on, one process, as the app is one), the ceiling; @fastify/static serving them with no checks is shown too. x-accel: nginx in front of an app instance started with DOWNLOAD_OFFLOAD=x-accel (the app checks and counts, nginx sends the file from the content folder). redirect: an app instance with DOWNLOAD_OFFLOAD=redirect answers 302 to a presigned URL; the client then GETs it from s3rver without the app's cookie, both requests in the time. "s3rver alone" is a presigned GET made once, with no app in the way: the ceiling of anything that comes from this S3 server. (autocannon counts a body only when it is complete: in steps of 50 MB.)
- RSS: VmRSS of the server's pid from /proc/<pid>/status sampled every 20 ms while 32 such clients download a 500 MB PDF for ${SECONDS} s, minus VmRSS just before; @fastify/static's growth under the same load is shown beside it.
- Webhooks: ${WEBHOOK_ORDERS} pending orders made with the app's orders service; one signed \`checkout.session.completed\` per order plus ${WEBHOOK_ORDERS / 5} redeliveries of the same events, shuffled and posted by autocannon over 32 connections. events/s = deliveries / wall time to the last answer; grants = library rows of that buyer afterwards, checked against 2,000 (and every order paid, every delivery 2xx). The baseline (bench/webhook-baseline-server.ts, its own process) is a bare Fastify route taking the raw body, verifying it with the Stripe SDK (\`stripe.webhooks.constructEvent\`, the same secret) and answering 200, no database: the same signed deliveries are posted to it by the same client just before each app run.
- Scale (catalogue first page \`/\` and search \`/?q=${SEARCH_WORD}\`, 1% of the items matching at every size): measured on the same app processes at ${fmt(SMALL_ITEMS)} items (before the other scenarios) and at ${fmt(SEARCH_ITEMS)} (after them; the rows are inserted by the bench while the apps run; PostgreSQL's statistics refreshed with ANALYZE, as autovacuum would). The goal figure is the server's own time (\`Server-Timing: app;dur\`) of a first request: ${UNCACHED_REQUESTS} requests one at a time, each just after the bench edits one item (another writer, so no cache of the app may answer it), p99 per run. Beside it, autocannon with 16 connections for ${Math.max(1, SECONDS / 2)} s: the client's p99 (queueing included, and the app's cache where it keeps one) and the server's own p99 under that load.
- \`npm start\`: milliseconds from spawning \`npm start\` (in the build's tree, with the bench's production environment) until /healthz answers, polled every 10 ms; one untimed start first, so that nothing has changed since the last build. Baseline: \`node dist/src/server.js\` started the same way.
- Memory: a fresh instance per configuration and build; ${fmt(MEMORY_VIEWS)} page views by autocannon (8 connections: catalogue pages 1 to 20 and content pages of thousands of different items, every other one signed in), 1 s of idle, a full garbage collection (these instances only are started with \`--expose-gc --require bench/gc-preload.cjs\`, which collects on SIGWINCH; the server is unchanged), 1 s more, then VmRSS (median of 3 samples 250 ms apart); again after a second ${fmt(MEMORY_VIEWS)}. "No growth" is at most ${NO_GROWTH_MB} MB more after the second.
- Search (SQLite + folder only): the catalogue is grown to ${fmt(SEARCH_ITEMS)} items after the other scenarios (so they keep measuring 10,000), 1% of them mentioning "${SEARCH_WORD}"; autocannon, 16 connections, against \`/?q=${SEARCH_WORD}\` (FTS5 match, bm25 order, count, page of 24 rendered; a search is kept until the database changes, so a first search is also timed: each page of the results in each order asked once) and the same bare-Fastify yardstick; the server's own time is its \`Server-Timing\` header.
- Before and after (BENCH_BEFORE): both builds run at once on the same database and store; where the before build does not know the newest migrations, they are hidden from it while it starts (it runs the older code on the newer schema, as during a rolling deploy).
- Success redirect: each checkout is started over HTTP (POST /checkout/<slug>), paid on the Stripe-compatible emulator, then GET /checkout/success is requested once per session by one autocannon connection. The server's own time is the \`Server-Timing: app;dur=\` header, Fastify's reply.elapsedTime when the reply is sent (routing, hooks, session, the Stripe retrieve on loopback, the fulfilment transaction and the page render).
`
  // A partial run (BENCH_ONLY, BENCH_BACKENDS, fewer than 3 runs) must not replace the full report.
  const partialRun = process.env.BENCH_ONLY !== undefined || process.env.BENCH_BACKENDS !== undefined || RUNS < 3
  const written = partialRun ? 'bench/tmp/results-partial.md' : 'bench/results.md'
  writeFileSync(join(ROOT, written), report)
  console.log('\n' + table + '\n')
  log(`wrote ${written}`)
} finally {
  await cleanup()
}

// ---------------------------------------------------------------- scenarios 3 to 8

/** The small item whose files the seeded rows share. */
async function smallItem (backend: Pick<Backend, 'handle'>): Promise<Content> {
  const { db, runner } = backend.handle
  return (await runner.first(db.selectFrom('content').selectAll().where('title', '=', 'Bench small')))!
}

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

async function webhooks (): Promise<void> {
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

/** One GET of a download target (following one 302 when told): it must answer 200 with the 50 MB. */
async function checkDownload (name: string, url: string, headers: Record<string, string>, follow: boolean): Promise<void> {
  let response = await fetch(url, { headers, redirect: 'manual' })
  if (follow) {
    const location = response.headers.get('location')
    await response.arrayBuffer()
    if (response.status !== 302 || location === null) throw new Error(`${name}: answered ${response.status}, not a redirect`)
    response = await fetch(new URL(location, url))
  }
  const bytes = (await response.arrayBuffer()).byteLength
  if (response.status !== 200 || bytes !== BIG) throw new Error(`${name}: answered ${response.status} with ${bytes} bytes`)
}

/** The server's own time, from a Server-Timing header (fetch's Headers or autocannon's object). */
function serverTiming (headers: unknown): number | undefined {
  const value = headers instanceof Headers ? headers.get('server-timing') : (headers as Record<string, unknown> | undefined)?.['server-timing']
  const timing = /app;dur=([\d.]+)/.exec(String(value ?? ''))
  return timing === null ? undefined : Number(timing[1])
}

async function successRedirect (): Promise<void> {
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

/** p99s of one catalogue size, by `${config}: ${page}`: the server's own time of uncached requests, and the client's under load. */
interface ScaleFigures { uncached: number[], client: number[], clientServer: number[] }

/**
 * The catalogue's first page and a search at one catalogue size, per configuration and build:
 * 1. UNCACHED_REQUESTS requests one at a time, each just after an edit of one item by this
 *    process (another writer: every cache of the app must let it go), their server's own time
 *    (Server-Timing app;dur), p99 per run;
 * 2. autocannon, 16 connections, half of BENCH_SECONDS: p99 as the client saw it (mostly the
 *    cached path where the app caches), and the server's own p99 under that load.
 */
async function scale (size: number, into: Map<string, ScaleFigures>): Promise<void> {
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

function scaleReport (small: Map<string, ScaleFigures>, large: Map<string, ScaleFigures>): void {
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

/**
 * `npm start` to /healthz answering, with the production environment of the bench, nothing
 * changed since the last build (one untimed start first: it builds if anything is stale); the
 * baseline is `node dist/src/server.js` started directly. Builds alternate, run by run.
 */
async function startTime (backend: Backend): Promise<void> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const timed = async (build: Build, how: 'npm' | 'node'): Promise<number> => {
    const port = await freePort()
    const unhide = await hideNewerMigrations(backend.handle, build)
    try {
      const [command, args] = how === 'npm' ? [npm, ['start', '--silent']] : [process.execPath, ['dist/src/server.js']]
      return await timeToListen(`${how} start (${build.label})`, command, args, build.dir, appEnv(backend, port), `http://127.0.0.1:${port}/healthz`)
    } finally {
      await unhide()
    }
  }
  const figures = new Map<Build, { npm: number[], node: number[] }>(builds.map((b) => [b, { npm: [], node: [] }]))
  for (const build of builds) log(`warm start of ${build.label} (npm start, untimed): ${fmt(await timed(build, 'npm'))} ms`)
  for (let run = 1; run <= RUNS; run++) {
    for (const build of builds) {
      const f = figures.get(build)!
      f.npm.push(await timed(build, 'npm'))
      f.node.push(await timed(build, 'node'))
      log(`run ${run} ${build.label}: npm start ${fmt(f.npm.at(-1)!)} ms, node dist/src/server.js ${fmt(f.node.at(-1)!)} ms`)
    }
  }
  for (const build of builds) {
    const f = figures.get(build)!
    const seconds = median(f.npm) / 1000
    rows.push({ config: configOf(backend, build), scenario: '`npm start` to /healthz answering, nothing changed since the last build; baseline: `node dist/src/server.js` directly', metric: 'ms', app: fmt(median(f.npm)), baseline: fmt(median(f.node)), ratio: (median(f.npm) / median(f.node)).toFixed(2), goal: '≤ 1,500 ms', runs: `${f.npm.map((v) => fmt(v)).join(' / ')} vs ${f.node.map((v) => fmt(v)).join(' / ')}` })
    recordGoal(11, `\`npm start\` to listening, nothing changed since the last build (${backend.label}; in brackets \`node dist/src/server.js\` alone)`, '≤ 1.5 s', build, `${fmt(seconds, 2)} s (${fmt(median(f.node) / 1000, 2)} s)`, seconds <= 1.5)
  }
}

/**
 * A fresh instance per configuration and build: idle RSS after start, after MEMORY_VIEWS page
 * views (a mix of anonymous and signed-in catalogue pages 1 to 20 and content pages of
 * thousands of different items, 8 connections), and after a second MEMORY_VIEWS. Each reading:
 * 1 s of idle, a full GC (the instance runs with --expose-gc and bench/gc-preload.cjs, which
 * collects on SIGWINCH), 1 s more, then the median of three samples of VmRSS 250 ms apart.
 */
async function memory (): Promise<void> {
  const idleRss = async (pid: number): Promise<number> => {
    await sleep(1000)
    process.kill(pid, 'SIGWINCH')
    await sleep(1000)
    const samples: number[] = []
    for (let i = 0; i < 3; i++) {
      samples.push(rssMb(pid))
      await sleep(250)
    }
    return median(samples)
  }
  interface Subject { backend: Backend, build: Build, url: string, pid: number, child: Started['child'], rss: number[] }
  const subjects: Subject[] = []
  try {
    for (const backend of backends) {
      for (const build of builds) {
        const started = await startInstance(backend, 'app (memory)', {}, build, ['--expose-gc', '--require', join(ROOT, 'bench', 'gc-preload.cjs')])
        subjects.push({ backend, build, url: started.url, pid: started.child.pid!, child: started.child, rss: [] })
      }
    }
    for (const subject of subjects) subject.rss.push(await idleRss(subject.pid))
    for (let phase = 1; phase <= 2; phase++) {
      for (const subject of subjects) {
        let next = 0
        const result = await cannon({
          url: subject.url,
          connections: 8,
          amount: MEMORY_VIEWS,
          requests: [{
            method: 'GET',
            setupRequest: (request) => {
              const k = next++
              const path = k % 4 < 2 ? `/?page=${1 + ((k >> 2) % 20)}` : `/content/bench-item-${1 + (((k >> 2) * 37 + phase) % (ITEMS - 3))}`
              return { ...request, path, headers: k % 2 === 1 ? subject.backend.signedIn : {} }
            }
          }]
        })
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`memory ${configOf(subject.backend, subject.build)}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        subject.rss.push(await idleRss(subject.pid))
        log(`${configOf(subject.backend, subject.build)} memory: ${fmt(MEMORY_VIEWS * phase)} page views, idle RSS ${fmt(subject.rss.at(-1)!, 1)} MB`)
      }
    }
  } finally {
    for (const subject of subjects) await stopProcess(subject.child)
  }
  for (const { backend, build, rss } of subjects) {
    const [start, first, second] = rss as [number, number, number]
    const growth = second - first
    rows.push({ config: configOf(backend, build), scenario: `idle RSS of a fresh instance after ${fmt(MEMORY_VIEWS)} page views (anonymous and signed in, catalogue and content pages); baseline: idle RSS after start`, metric: 'MB', app: fmt(first, 1), baseline: fmt(start, 1), ratio: '', goal: 'reported', runs: '' })
    rows.push({ config: configOf(backend, build), scenario: `idle RSS after a second ${fmt(MEMORY_VIEWS)} page views; baseline: after the first`, metric: 'MB', app: fmt(second, 1), baseline: fmt(first, 1), ratio: '', goal: `no growth (≤ ${NO_GROWTH_MB} MB)`, runs: `growth ${growth >= 0 ? '+' : ''}${fmt(growth, 1)} MB` })
    recordGoal(12, `memory: idle RSS after ${fmt(MEMORY_VIEWS)} page views (${backend.label})`, 'reported', build, `${fmt(first, 1)} MB`, undefined)
    recordGoal(13, `memory: RSS growth over a second ${fmt(MEMORY_VIEWS)} page views (${backend.label})`, `no growth (≤ ${NO_GROWTH_MB} MB)`, build, growth <= NO_GROWTH_MB ? `no growth (${growth >= 0 ? '+' : ''}${fmt(growth, 1)} MB)` : `+${fmt(growth, 1)} MB`, growth <= NO_GROWTH_MB)
  }
}

async function search (backend: Backend, base: string): Promise<void> {
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
