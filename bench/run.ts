// `npm run bench`: the app in production mode in its own process, in two configurations side by
// side: SQLite + a content folder (the default) and PostgreSQL + an S3-compatible store (a
// throwaway cluster from Debian's postgresql, s3rver in its own process). A Stripe-compatible
// server and an OIDC provider beside them, the yardsticks (bare Fastify, @fastify/static, nginx)
// in processes of their own, autocannon and a byte-counting client driving them. Every figure is
// a median of several runs, and every throughput is also a ratio against a yardstick measured in
// the same run, because the machine is small and shared. Writes bench/results.md.
//
// BENCH_ONLY=pages,downloads,webhooks,success,search runs some scenarios;
// BENCH_BACKENDS=sqlite,postgres some configurations (both by default).
import { randomBytes } from 'node:crypto'
import { createWriteStream, writeFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import type { DatabaseHandle } from '../src/db/database.js'
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { openPostgres } from '../src/db/postgres.js'
import type { Content } from '../src/db/types.js'
import { startIdentityProvider } from '../src/dev/identity-provider.js'
import { startStripeEmulator } from '../src/dev/stripe-emulator/index.js'
import { createCatalog } from '../src/services/catalog.js'
import { createFileStore, type Store } from '../src/services/file-store.js'
import { createOrders } from '../src/services/orders.js'
import { createS3Store } from '../src/services/s3-store.js'
import type { UploadPart } from '../src/services/uploads.js'
import { createUsers } from '../src/services/users.js'
import { pngBytes } from '../test/helpers/fixtures.js'
import { startPostgres } from '../test/helpers/postgres.js'
import { BUCKET } from '../test/helpers/s3.js'
import {
  cannon, download, elapsedSeconds, fmt, freePort, log, MB, median, pdfStream, percentile, ROOT, rssMb, signIn,
  type Started, startProcess, stopAll, stopProcess
} from './lib.js'
import { nginxInstalled, startNginx } from './nginx.js'

const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ITEMS = 10_000
const WEBHOOK_ORDERS = 2_000
const SUCCESS_REQUESTS = 200
// Catalogue search runs on a bigger catalogue, seeded only for it (after the other scenarios).
const SEARCH_ITEMS = 100_000
const SEARCH_WORD = 'lighthouse'
const BIG = 50 * MB
const HUGE = 500 * MB
const WEBHOOK_SECRET = 'whsec_bench_' + randomBytes(12).toString('hex')
const SCENARIOS = ['pages', 'downloads', 'webhooks', 'success', 'search']
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

/** Another instance of the app on a configuration's database and store (DOWNLOAD_OFFLOAD=...). */
async function startInstance (backend: Pick<Backend, 'env' | 'label'>, name: string, extra: Record<string, string> = {}): Promise<Started & { url: string, port: number }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // BENCH_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/tmp/prof" profiles the app.
  const args = [...(process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), 'dist/src/server.js']
  const started = await startProcess(`${backend.label} ${name}`, args, appEnv(backend, port, extra), `${url}/healthz`)
  return { ...started, url, port }
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
  // 10,000 rows share one small file, inserted by Kysely in one transaction.
  log(`${label}: seeding 10,000 items, a 50 MB and a 500 MB PDF`)
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
  await runner.transaction(async () => {
    for (let i = 1; i <= ITEMS - 3; i++) {
      await runner.run(db.insertInto('content').values(sharedFileRow(small, `bench-item-${i}`, `Bench item ${i}: a title of a typical length`, `Item ${i} of the benchmark catalogue. `.repeat(8), i % 10 === 0 ? 0 : 500)))
    }
  })

  log(`${label}: starting the app (node dist/src/server.js, NODE_ENV=production)`)
  const instance = await startInstance({ env: opened.env, label }, 'app')
  const app = instance.url
  const firstPage = await fetch(`${app}/`)
  const pageBytes = (await firstPage.arrayBuffer()).byteLength
  if (firstPage.status !== 200 || pageBytes < 5000) throw new Error(`${label}: catalogue answered ${firstPage.status} with ${pageBytes} bytes`)

  const reader = await signIn(app, 'reader@example.com', 'Ada Reader')
  const readerRow = (await runner.first(db.selectFrom('users').selectAll().where('email', '=', 'reader@example.com')))!
  // The reader owns both big PDFs: an order fulfilled by the app's one fulfilment function.
  for (const item of [big, huge]) {
    const order = await orders.create(readerRow.id, item)
    await orders.attachSession(order.id, `cs_seed_${order.id}`)
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
  return Object.assign(partial, { catalog, orders, users, env: opened.env, contentDir: opened.contentDir, app, appPid: instance.child.pid!, signedIn, big, huge, pageBytes })
}

/** Catalogue rows beyond the uploads share the small item's files (pages never read them). */
function sharedFileRow (small: Content, slug: string, title: string, description: string, priceCents: number) {
  return { slug, title, description, price_cents: priceCents, currency: 'usd', file_key: small.file_key, file_name: 'bench.pdf', file_size: small.file_size, sha256: small.sha256, preview_key: small.preview_key }
}

interface PageTarget { label: string, url: string, headers?: Record<string, string>, backend?: Backend }
interface Row { config: string, scenario: string, metric: string, app: string, baseline: string, ratio: string, goal: string, runs: string }
const rows: Row[] = []
const YARDSTICK = 'yardstick'
let pageBytes = 0

try {
  // setUp() adds each configuration to `backends` as soon as it has something to close.
  for (const name of wanted as BackendName[]) await setUp(name)
  if (backends.length === 0) throw new Error('no configuration to measure')
  pageBytes = backends[0]!.pageBytes
  const sqlite = backends.find((b) => b.name === 'sqlite')
  const postgres = backends.find((b) => b.name === 'postgres')

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
    // One round robin for both configurations: the machine's noise falls on all of them alike.
    const pageTargets: PageTarget[] = [{ label: 'baseline', url: `${base}/html` }]
    for (const backend of backends) {
      const item = `${backend.app}/content/bench-item-5000`
      pageTargets.push(
        { label: 'catalogue anonymous', url: `${backend.app}/`, backend },
        { label: 'catalogue signed in', url: `${backend.app}/`, headers: backend.signedIn, backend },
        { label: 'content page anonymous', url: item, backend },
        { label: 'content page signed in', url: item, headers: backend.signedIn, backend }
      )
    }
    const key = (t: PageTarget): string => `${t.backend?.label ?? YARDSTICK}: ${t.label}`
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
    for (const target of pageTargets.slice(1)) {
      const rps = median(pageRps.get(key(target))!)
      const goal = target.label.startsWith('catalogue') ? '≥ 0.50' : ''
      const what = target.label.startsWith('catalogue') ? '10,000 items, first page of 24' : 'one paid item, buy form'
      rows.push({ config: target.backend!.label, scenario: `${target.label} (${what}), p99 ${fmt(median(pageP99.get(key(target))!), 1)} ms`, metric: 'req/s', app: fmt(rps), baseline: fmt(baselineRps), ratio: (rps / baselineRps).toFixed(2), goal, runs: pageRps.get(key(target))!.map((v) => fmt(v)).join(' / ') })
    }
  }

  // ---------------------------------------------------------- 2. downloads
  if (only('downloads')) {
    // The offloading instances start now, beside each configuration's app, and stop afterwards:
    // SQLite + folder behind nginx with DOWNLOAD_OFFLOAD=x-accel, PostgreSQL + S3 with
    // DOWNLOAD_OFFLOAD=redirect (two instances on one database and bucket, as in production).
    const offload: Array<Started & { url: string }> = []
    const downloadTargets: Array<PageTarget & { follow?: boolean }> = []
    let nginxUrl: string | undefined
    if (nginxInstalled()) {
      let appPort: number | undefined
      if (sqlite !== undefined) {
        const xAccel = await startInstance(sqlite, 'app (x-accel)', { DOWNLOAD_OFFLOAD: 'x-accel' })
        offload.push(xAccel)
        appPort = xAccel.port
      }
      const nginx = await startNginx(join(runDir, 'nginx'), staticDir, sqlite?.contentDir, appPort)
      offload.push(nginx)
      nginxUrl = nginx.url
      downloadTargets.push({ label: 'nginx static file (ceiling)', url: `${nginx.url}/files/big.pdf` })
    } else {
      log('nginx is not installed (apt-get install nginx-light): the ceiling and x-accel are left out; @fastify/static is the baseline')
    }
    downloadTargets.push({ label: '@fastify/static', url: `${base}/files/big.pdf` })
    if (sqlite !== undefined) {
      downloadTargets.push({ label: 'app streams from the folder', url: `${sqlite.app}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite })
      if (nginxUrl !== undefined) downloadTargets.push({ label: 'nginx in front, DOWNLOAD_OFFLOAD=x-accel', url: `${nginxUrl}/content/${sqlite.big.slug}/download`, headers: sqlite.signedIn, backend: sqlite })
    }
    if (postgres !== undefined && postgres.files.kind === 's3') {
      const redirect = await startInstance(postgres, 'app (redirect)', { DOWNLOAD_OFFLOAD: 'redirect' })
      offload.push(redirect)
      downloadTargets.push(
        { label: 'app streams from S3 (s3rver)', url: `${postgres.app}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres },
        { label: 'DOWNLOAD_OFFLOAD=redirect: 302, then the presigned GET from s3rver', url: `${redirect.url}/content/${postgres.big.slug}/download`, headers: postgres.signedIn, backend: postgres, follow: true },
        { label: 's3rver alone (a presigned GET, no app)', url: await postgres.files.presign(postgres.big.file_key, { fileName: 'bench.pdf', contentType: 'application/pdf', seconds: 3600 }), backend: postgres }
      )
    }
    const key = (t: PageTarget): string => `${t.backend?.label ?? YARDSTICK}: ${t.label}`
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
      for (const target of downloadTargets) {
        const mbs = median(throughput.get(key(target))!)
        const goal = target.label === 'app streams from the folder' && ceiling.label === '@fastify/static' ? '≥ 0.70' : ''
        rows.push({
          config: target.backend?.label ?? YARDSTICK,
          scenario: `download of a 50 MB PDF, 4 clients: ${target.label}`,
          metric: 'MB/s',
          app: target === ceiling ? '-' : fmt(mbs),
          baseline: fmt(ceilingMbs),
          ratio: (mbs / ceilingMbs).toFixed(2),
          goal,
          runs: throughput.get(key(target))!.map((v) => fmt(v)).join(' / ')
        })
      }
    } finally {
      for (const started of offload) await stopProcess(started.child)
    }

    // 32 clients each downloading a 500 MB file: the server's memory must not grow with the file.
    const rssTargets: Array<PageTarget & { pid: number }> = [{ label: '@fastify/static', url: `${base}/files/huge.pdf`, pid: baseProcess.child.pid! }]
    for (const backend of backends) rssTargets.push({ label: 'app', url: `${backend.app}/content/${backend.huge.slug}/download`, headers: backend.signedIn, pid: backend.appPid, backend })
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
      rows.push({ config: target.backend!.label, scenario: `RSS growth over idle while 32 clients download a 500 MB file (${SECONDS} s); app VmHWM ${fmt(rssMb(target.pid, 'VmHWM'))} MB; baseline: @fastify/static's growth`, metric: 'MB', app: fmt(median(appGrowth), 1), baseline: fmt(median(staticGrowth), 1), ratio: '', goal: '< 64 MB', runs: `${appGrowth.map((v) => fmt(v, 1)).join(' / ')} vs ${staticGrowth.map((v) => fmt(v, 1)).join(' / ')}` })
    }
  }

  // ---------------------------------------------------------- 3. webhooks
  if (only('webhooks')) {
    for (const backend of backends) {
      const { db, runner } = backend.handle
      const eventsPerSecond: number[] = []
      const webhookP99: number[] = []
      const grantsOk: string[] = []
      const contentIds = await runner.all(db.selectFrom('content').select('id').where('slug', 'like', 'bench-item-%').where('price_cents', '>', 0).orderBy('id'))
      for (let run = 1; run <= RUNS; run++) {
        const buyer = await backend.users.upsert({ provider: 'bench', subject: `webhook-buyer-${run}`, email: `buyer${run}@example.com`, emailVerified: true, name: `Buyer ${run}` })
        const items = contentIds.slice((run - 1) * WEBHOOK_ORDERS, run * WEBHOOK_ORDERS)
        const bodies = await runner.transaction(async () => await Promise.all(items.map(async ({ id }, index) => {
          const order = await backend.orders.create(buyer.id, (await backend.catalog.findById(id))!)
          const sessionId = `cs_bench_${run}_${index}_${order.id.slice(0, 8)}`
          await backend.orders.attachSession(order.id, sessionId)
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
            payment_intent: `pi_bench_${run}_${index}`
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
        let next = 0
        const begin = performance.now()
        let lastResponse = begin
        const result = await cannon({
          url: `${backend.app}/webhooks/stripe`,
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
        const seconds = (lastResponse - begin) / 1000
        const granted = (await runner.first(db.selectFrom('library').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', buyer.id)))!.n
        const paid = (await runner.first(db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', buyer.id).where('status', '=', 'paid')))!.n
        const ok = result['2xx'] === signed.length && granted === WEBHOOK_ORDERS && paid === WEBHOOK_ORDERS
        eventsPerSecond.push(signed.length / seconds)
        webhookP99.push(result.latency.p99)
        grantsOk.push(`${granted}${ok ? '' : ` (${result['2xx']} 2xx, ${paid} paid: WRONG)`}`)
        log(`run ${run} ${backend.label} webhooks: ${signed.length} deliveries in ${seconds.toFixed(2)} s = ${fmt(signed.length / seconds)}/s, p99 ${result.latency.p99} ms, ${result['2xx']} 2xx, ${granted} grants, ${paid} paid`)
      }
      rows.push({ config: backend.label, scenario: `webhook ingest: ${WEBHOOK_ORDERS} pending orders, ${WEBHOOK_ORDERS * 1.2} signed deliveries (20% redeliveries), 32 concurrent`, metric: 'events/s', app: fmt(median(eventsPerSecond)), baseline: '', ratio: '', goal: '≥ 2,000', runs: eventsPerSecond.map((v) => fmt(v)).join(' / ') })
      rows.push({ config: backend.label, scenario: 'webhook ingest latency', metric: 'p99 ms', app: fmt(median(webhookP99), 1), baseline: '', ratio: '', goal: '', runs: webhookP99.map((v) => fmt(v, 1)).join(' / ') })
      rows.push({ config: backend.label, scenario: 'webhook ingest: grants after each run (must be exactly 2,000)', metric: 'grants', app: grantsOk.join(' / '), baseline: '', ratio: '', goal: '= 2,000', runs: '' })
    }
  }

  // ---------------------------------------------------------- 4. success redirect
  if (only('success')) {
    for (const backend of backends) await successRedirect(backend)
  }

  // ---------------------------------------------------------- 5. catalogue search
  // SQLite's FTS5 at 100,000 items (PostgreSQL's full text is left to the tests: seeding 90,000
  // more rows there would take a good part of the bench's time).
  if (only('search') && sqlite !== undefined) await search(sqlite, base)

  // ---------------------------------------------------------- report
  const cpu = cpus()
  const table = [
    '| configuration | scenario | metric | app (median) | baseline (median) | ratio | goal | runs |',
    '| --- | --- | --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.config} | ${r.scenario} | ${r.metric} | ${r.app} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.runs} |`)
  ].join('\n')
  const report = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts). Do not edit by hand.

- Date: ${new Date().toISOString()}
- Machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 1024 / MB, 1)} GB RAM, load average at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}
- Node ${process.version}; app: \`node dist/src/server.js\`, NODE_ENV=production, LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=0
- Configurations: ${backends.map((b) => b.label).join(', ')}${postgres === undefined ? '' : ' (PostgreSQL: a throwaway cluster of Debian\'s PostgreSQL on loopback, fsync and synchronous_commit on, shared_buffers 128MB; S3: s3rver in its own process, objects in a temporary folder)'}
- ${RUNS} runs per scenario, ${SECONDS} s each for the timed ones, the targets of a scenario alternating; medians shown, each run's figure in the last column
- Whole run: ${elapsedSeconds().toFixed(0)} s

${table}

How each figure is taken:

- Pages: autocannon, 16 connections, every configuration and the yardstick in one round robin. The yardstick is a bare Fastify route in its own process answering a fixed HTML string as long as the anonymous catalogue page (${fmt(pageBytes)} bytes). "Signed in" sends the session cookie got by the real OIDC flow over HTTP (GET /login, the provider's authorize URL, GET /login/callback).
- Downloads: 4 keep-alive clients (node:http) downloading the owner's 50 MB PDF again and again for ${SECONDS} s, counting bytes as they arrive. The ratio is against nginx serving the same bytes as a static file (sendfile on, one process, as the app is one), the ceiling; @fastify/static serving them with no checks is shown too. x-accel: nginx in front of an app instance started with DOWNLOAD_OFFLOAD=x-accel (the app checks and counts, nginx sends the file from the content folder). redirect: an app instance with DOWNLOAD_OFFLOAD=redirect answers 302 to a presigned URL; the client then GETs it from s3rver without the app's cookie, both requests in the time. "s3rver alone" is a presigned GET made once, with no app in the way: the ceiling of anything that comes from this S3 server. (autocannon counts a body only when it is complete: in steps of 50 MB.)
- RSS: VmRSS of the server's pid from /proc/<pid>/status sampled every 20 ms while 32 such clients download a 500 MB PDF for ${SECONDS} s, minus VmRSS just before; @fastify/static's growth under the same load is shown beside it.
- Webhooks: ${WEBHOOK_ORDERS} pending orders made with the app's orders service; one signed \`checkout.session.completed\` per order plus ${WEBHOOK_ORDERS / 5} redeliveries of the same events, shuffled and posted by autocannon over 32 connections. events/s = deliveries / wall time; grants = library rows of that buyer afterwards, checked against 2,000 (and every order paid, every delivery 2xx).
- Search (SQLite + folder only): the catalogue is grown to ${fmt(SEARCH_ITEMS)} items after the other scenarios (so they keep measuring 10,000), 1% of them mentioning "${SEARCH_WORD}"; autocannon, 16 connections, against \`/?q=${SEARCH_WORD}\` (FTS5 match, bm25 order, count, page of 24 rendered; a search is kept until the database changes, so a first search is also timed: each page of the results in each order asked once) and the same bare-Fastify yardstick; the server's own time is its \`Server-Timing\` header.
- Success redirect: each checkout is started over HTTP (POST /checkout/<slug>), paid on the Stripe-compatible emulator, then GET /checkout/success is requested once per session by one autocannon connection. The server's own time is the \`Server-Timing: app;dur=\` header, Fastify's reply.elapsedTime when the reply is sent (routing, hooks, session, the Stripe retrieve on loopback, the fulfilment transaction and the page render).
`
  // A partial run (BENCH_ONLY, BENCH_BACKENDS) must not replace the full report.
  const partialRun = process.env.BENCH_ONLY !== undefined || process.env.BENCH_BACKENDS !== undefined
  const written = partialRun ? 'bench/tmp/results-partial.md' : 'bench/results.md'
  writeFileSync(join(ROOT, written), report)
  console.log('\n' + table + '\n')
  log(`wrote ${written}`)
} finally {
  await cleanup()
}

// ---------------------------------------------------------------- scenarios 4 and 5

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

async function successRedirect (backend: Backend): Promise<void> {
  // Sessions are created through the app (POST /checkout/<slug>) and paid on the emulator; the
  // buyer's return to /checkout/success is then timed by the app itself (Server-Timing app;dur).
  const { db, runner } = backend.handle
  const app = backend.app
  const shopper = await signIn(app, 'shopper@example.com', 'Sam Shopper')
  const itemPage = await fetch(`${app}/content/bench-item-1`, { headers: { cookie: shopper.header } })
  shopper.update(itemPage)
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await itemPage.text())?.[1]
  if (csrf === undefined) throw new Error('no CSRF token on the content page')
  const successMs: number[][] = []
  const successClientMs: number[][] = []
  const slugs = await runner.all(db.selectFrom('content').select('slug').where('slug', 'like', 'bench-item-%').where('price_cents', '>', 0).orderBy('id', 'desc').limit(SUCCESS_REQUESTS * RUNS))
  for (let run = 1; run <= RUNS; run++) {
    const sessionIds: string[] = []
    const batch = slugs.slice((run - 1) * SUCCESS_REQUESTS, run * SUCCESS_REQUESTS)
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
          const timing = /app;dur=([\d.]+)/.exec(String((headers as Record<string, unknown> | undefined)?.['server-timing'] ?? ''))
          if (status === 200 && timing !== null) serverMs.push(Number(timing[1]))
        }
      }]
    })
    if (result['2xx'] !== sessionIds.length || serverMs.length !== sessionIds.length) throw new Error(`success: ${result['2xx']} 2xx, ${serverMs.length} timings of ${sessionIds.length}`)
    const granted = (await runner.first(db.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('stripe_session_id', 'in', sessionIds).where('status', '=', 'paid')))!.n
    if (granted !== sessionIds.length) throw new Error(`success: ${granted} of ${sessionIds.length} orders paid`)
    successMs.push(serverMs)
    successClientMs.push([result.latency.p50, result.latency.p99])
    log(`run ${run} ${backend.label} success redirect: server p50 ${percentile(serverMs, 50).toFixed(2)} ms, p99 ${percentile(serverMs, 99).toFixed(2)} ms; client p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`)
  }
  const p50s = successMs.map((values) => percentile(values, 50))
  const p99s = successMs.map((values) => percentile(values, 99))
  rows.push({ config: backend.label, scenario: `success redirect fulfilment (${SUCCESS_REQUESTS} paid sessions per run, one at a time), server's own time`, metric: 'p50 ms', app: fmt(median(p50s), 2), baseline: '', ratio: '', goal: '', runs: p50s.map((v) => fmt(v, 2)).join(' / ') })
  rows.push({ config: backend.label, scenario: 'success redirect fulfilment, server\'s own time', metric: 'p99 ms', app: fmt(median(p99s), 2), baseline: '', ratio: '', goal: '< 10 ms', runs: p99s.map((v) => fmt(v, 2)).join(' / ') })
  rows.push({ config: backend.label, scenario: 'success redirect, as the client saw it (includes loopback and the HTTP client)', metric: 'p50 / p99 ms', app: `${fmt(median(successClientMs.map((v) => v[0]!)), 1)} / ${fmt(median(successClientMs.map((v) => v[1]!)), 1)}`, baseline: '', ratio: '', goal: '', runs: '' })
}

async function search (backend: Backend, base: string): Promise<void> {
  // The catalogue grows to 100,000 items, titles and descriptions drawn from a small
  // vocabulary; one item in 90 of the new ones (1,000, i.e. 1% of all) mentions the searched
  // word, half of them in the title. Inserted by this process while the app runs: the app sees
  // them (its FTS5 index is kept by triggers in the same transaction).
  const { db, runner } = backend.handle
  const app = backend.app
  const words = ['atlas', 'river', 'garden', 'recipes', 'history', 'notes', 'guide', 'maps', 'stories', 'letters', 'winter', 'harbour', 'forest', 'city', 'songs', 'poems', 'workbook', 'sketches', 'journal', 'field']
  const pick = (i: number, salt: number): string => words[(i * 7 + salt * 13 + Math.floor(i / 20)) % words.length]!
  const existing = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n'))))!.n
  const extra = SEARCH_ITEMS - existing
  const small = (await runner.first(db.selectFrom('content').selectAll().where('slug', '=', 'bench-item-1')))!
  log(`seeding ${fmt(extra)} more items for search (to ${fmt(SEARCH_ITEMS)})`)
  const seedStart = Date.now()
  await runner.transaction(async () => {
    for (let i = 1; i <= extra; i++) {
      const marked = i % 90 === 0
      const title = `${pick(i, 1)} ${pick(i, 2)}${marked && i % 180 === 0 ? ` ${SEARCH_WORD}` : ''} ${i}`
      const description = `${pick(i, 3)} and ${pick(i, 4)}: ${pick(i, 5)} ${pick(i, 6)} for the ${pick(i, 7)}. ${marked && i % 180 !== 0 ? `A ${SEARCH_WORD} on the cover. ` : ''}`.repeat(3)
      await runner.run(db.insertInto('content').values(sharedFileRow(small, `search-item-${i}`, title, description, 100 + (i % 50) * 50)))
    }
  })
  const matching = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.or([eb('title', 'like', `%${SEARCH_WORD}%`), eb('description', 'like', `%${SEARCH_WORD}%`)]))))!.n
  log(`seeded in ${((Date.now() - seedStart) / 1000).toFixed(1)} s; ${fmt(matching)} items mention "${SEARCH_WORD}"`)
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
