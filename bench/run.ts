// `npm run bench`: the app in production mode in its own process, a Stripe-compatible server
// and an OIDC provider beside it, the yardsticks (bare Fastify, @fastify/static) in another
// process, autocannon driving both. Every figure is a median of several runs, and every
// throughput is also a ratio against a yardstick measured in the same run, because the machine
// is small and shared. Writes bench/results.md.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { Agent, get as httpGet } from 'node:http'
import { createServer } from 'node:net'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import type { Content } from '../src/db/types.js'
import { startIdentityProvider } from '../src/dev/identity-provider.js'
import { startStripeEmulator } from '../src/dev/stripe-emulator/index.js'
import { createCatalog } from '../src/services/catalog.js'
import type { UploadPart } from '../src/services/uploads.js'
import { createFileStore } from '../src/services/file-store.js'
import { createUsers } from '../src/services/users.js'
import { createOrders } from '../src/services/orders.js'
import { pdfBytes, pngBytes } from '../test/helpers/fixtures.js'

const ROOT = new URL('..', import.meta.url).pathname
const RUNS = Number(process.env.BENCH_RUNS ?? 3)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ITEMS = 10_000
const WEBHOOK_ORDERS = 2_000
const SUCCESS_REQUESTS = 200
// Catalogue search runs on a bigger catalogue, seeded only for it (after the other scenarios).
const SEARCH_ITEMS = 100_000
const SEARCH_WORD = 'lighthouse'
const MB = 1024 * 1024
const WEBHOOK_SECRET = 'whsec_bench_' + randomBytes(12).toString('hex')
const started = Date.now()
// BENCH_ONLY=pages,downloads,webhooks,success,search runs a subset while working on one of them.
const only = (name: string): boolean => process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY.split(',').includes(name)

const log = (message: string): void => { console.log(`[bench ${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`) }

// ---------------------------------------------------------------- helpers

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

const children: ChildProcess[] = []

async function startProcess (name: string, args: string[], env: Record<string, string>, readyUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  child.stderr?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-4000) })
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`)
    try {
      const response = await fetch(readyUrl)
      if (response.ok) { await response.arrayBuffer(); return child }
    } catch {}
    await sleep(100)
  }
  throw new Error(`${name} did not answer ${readyUrl} within 30 s:\n${output}`)
}

async function stopProcess (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
  await exited
  clearTimeout(timer)
}

async function cannon (options: autocannon.Options): Promise<autocannon.Result> {
  return await new Promise((resolve, reject) => {
    autocannon({ timeout: 30, ...options }, (error, result) => { if (error !== null && error !== undefined) reject(error); else resolve(result) })
  })
}

/**
 * `clients` loops each downloading `url` again and again for `seconds`, counting bytes as they
 * arrive. (autocannon counts a body only once it is complete, which for 50-500 MB bodies in a
 * few seconds gives figures in steps of one whole file.)
 */
async function download (url: string, headers: Record<string, string>, clients: number, seconds: number): Promise<{ mbPerSecond: number, statuses: Set<number> }> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients })
  const deadline = Date.now() + seconds * 1000
  const statuses = new Set<number>()
  let bytes = 0
  const once = async (): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const request = httpGet(url, { agent, headers }, (response) => {
        statuses.add(response.statusCode ?? 0)
        const timer = setTimeout(() => { response.destroy(); resolve() }, Math.max(0, deadline - Date.now()))
        response.on('data', (chunk: Buffer) => { bytes += chunk.length })
        response.on('end', () => { clearTimeout(timer); resolve() })
        response.on('close', () => { clearTimeout(timer); resolve() })
        response.on('error', () => { clearTimeout(timer); resolve() })
      })
      request.on('error', reject)
    })
  }
  const begin = Date.now()
  await Promise.all(Array.from({ length: clients }, async () => { while (Date.now() < deadline) await once() }))
  const elapsed = (Date.now() - begin) / 1000
  agent.destroy()
  return { mbPerSecond: bytes / MB / elapsed, statuses }
}

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

function percentile (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Resident set size of a process in MB, from /proc (Linux). */
function rssMb (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match === null ? Number.NaN : Number(match[1]) / 1024
}

/** Cookies as a browser keeps them, for the sign-in dance over HTTP. */
class Jar {
  readonly cookies = new Map<string, string>()
  update (response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';')
      const name = pair.slice(0, pair.indexOf('='))
      const value = pair.slice(pair.indexOf('=') + 1)
      if (value === '' || /max-age=0/i.test(line)) this.cookies.delete(name)
      else this.cookies.set(name, value)
    }
  }

  get header (): string { return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') }
}

/** The OIDC flow over HTTP, as test/helpers/build.ts signIn does it with inject. */
async function signIn (base: string, email: string, name: string): Promise<Jar> {
  const jar = new Jar()
  const start = await fetch(`${base}/login?next=%2F`, { redirect: 'manual' })
  jar.update(start)
  if (start.status !== 302) throw new Error(`/login answered ${start.status}`)
  const authorize = new URL(start.headers.get('location')!)
  authorize.searchParams.set('login_email', email)
  authorize.searchParams.set('login_name', name)
  authorize.searchParams.set('login_verified', 'true')
  const provider = await fetch(authorize, { redirect: 'manual' })
  await provider.arrayBuffer()
  const callback = new URL(provider.headers.get('location')!)
  const done = await fetch(`${base}${callback.pathname}${callback.search}`, { redirect: 'manual', headers: { cookie: jar.header } })
  jar.update(done)
  if (done.status !== 302) throw new Error(`/login/callback answered ${done.status}: ${(await done.text()).slice(0, 300)}`)
  return jar
}

async function * pdfStream (size: number): AsyncGenerator<Buffer> {
  const head = pdfBytes('bench')
  yield head
  const chunk = Buffer.alloc(MB, 0x20)
  let left = size - head.length
  while (left > 0) {
    const part = left >= chunk.length ? chunk : chunk.subarray(0, left)
    left -= part.length
    yield part
  }
}

// ---------------------------------------------------------------- setup

const runDir = join(ROOT, 'bench', 'tmp', `run-${process.pid}`)
const contentDir = join(runDir, 'content')
const dbPath = join(runDir, 'marketplace.db')

const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET, log: () => {} })
const idp = await startIdentityProvider()
const database = openDatabase(dbPath)

async function cleanup (): Promise<void> {
  for (const child of children) await stopProcess(child)
  await database.close().catch(() => {})
  await stripe.close().catch(() => {})
  await idp.close().catch(() => {})
  await rm(runDir, { recursive: true, force: true })
}

interface PageTarget { label: string, url: string, headers?: Record<string, string> }
interface Row { scenario: string, metric: string, app: string, baseline: string, ratio: string, goal: string, runs: string }
const rows: Row[] = []
const fmt = (value: number, digits = 0): string => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

try {
  await mkdir(contentDir, { recursive: true })
  await migrateToLatest(database.db)
  const { db, runner } = database
  const files = createFileStore(contentDir)
  const catalog = createCatalog({ db, runner, changeStamp: database.changeStamp, files, currency: 'usd', maxUploadBytes: 600 * MB })
  const silent = Fastify({ logger: false }).log
  const orders = createOrders({ db, runner, log: silent, provider: 'stripe' })
  const users = createUsers({ db, runner, adminEmails: [], sessionDays: 30 })

  // Seeding through the app's own services: the two big PDFs go through the upload path
  // (stream -> hash -> temporary file -> rename -> row); the rest of the 10,000 rows share one
  // small file, inserted by Kysely in one transaction.
  log('seeding 10,000 items, a 50 MB and a 500 MB PDF')
  const upload = async (title: string, size: number, price: string): Promise<Content> => {
    async function * parts (): AsyncGenerator<UploadPart> {
      yield { type: 'file', fieldname: 'file', filename: 'bench.pdf', file: Readable.from(pdfStream(size)) }
      yield { type: 'file', fieldname: 'preview', filename: 'cover.png', file: Readable.from([pngBytes()]) }
    }
    const result = await catalog.receiveUpload(parts(), { title, description: `A ${size / MB} MB benchmark file.`, price })
    if (result.content === undefined) throw new Error(`seeding ${title}: ${JSON.stringify(result.problems)}`)
    return result.content
  }
  const huge = await upload('Bench huge 500 MB', 500 * MB, '9.00')
  const big = await upload('Bench big 50 MB', 50 * MB, '7.00')
  const small = await upload('Bench small', 4096, '5.00')
  // Catalogue rows beyond the uploads share the small item's files (pages never read them).
  const sharedFileRow = (slug: string, title: string, description: string, priceCents: number) => ({
    slug, title, description, price_cents: priceCents, currency: 'usd', file_key: small.file_key, file_name: 'bench.pdf', file_size: small.file_size, sha256: small.sha256, preview_key: small.preview_key
  })
  await runner.transaction(async () => {
    for (let i = 1; i <= ITEMS - 3; i++) {
      await runner.run(db.insertInto('content').values(sharedFileRow(`bench-item-${i}`, `Bench item ${i}: a title of a typical length`, `Item ${i} of the benchmark catalogue. `.repeat(8), i % 10 === 0 ? 0 : 500)))
    }
  })

  // ---------------------------------------------------------- processes
  const appPort = await freePort()
  const basePort = await freePort()
  const app = `http://127.0.0.1:${appPort}`
  const base = `http://127.0.0.1:${basePort}`
  log('starting the app (node dist/src/server.js, NODE_ENV=production)')
  // BENCH_APP_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/tmp/prof" profiles the app.
  const appArgs = [...(process.env.BENCH_APP_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), 'dist/src/server.js']
  const appProcess = await startProcess('app', appArgs, {
    NODE_ENV: 'production',
    PORT: String(appPort),
    HOST: '127.0.0.1',
    PUBLIC_URL: app,
    DATABASE_URL: dbPath,
    CONTENT_DIR: contentDir,
    SESSION_SECRET: randomBytes(32).toString('hex'),
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
    LOG_LEVEL: 'warn'
  }, `${app}/healthz`)
  const appPid = appProcess.pid!

  const firstPage = await fetch(`${app}/`)
  const pageBytes = (await firstPage.arrayBuffer()).byteLength
  if (firstPage.status !== 200 || pageBytes < 5000) throw new Error(`catalogue answered ${firstPage.status} with ${pageBytes} bytes`)
  log(`catalogue page is ${pageBytes} bytes; starting the yardstick server with a string of that size`)
  const baseProcess = await startProcess('baseline', ['--import=tsx', 'bench/baseline-server.ts'], {
    PORT: String(basePort),
    HTML_BYTES: String(pageBytes),
    CONTENT_DIR: contentDir,
    NODE_ENV: 'production'
  }, `${base}/html`)

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
  if (firstSignedPage.status !== 200 || !(await firstSignedPage.text()).includes('Sign out')) throw new Error('signed-in catalogue failed')
  const signedIn = { cookie: reader.header }
  const again = await fetch(`${app}/`, { headers: signedIn })
  await again.arrayBuffer()
  if (again.headers.getSetCookie().length > 0) log('note: the signed-in catalogue still sets a cookie on every request')

  // ---------------------------------------------------------- 1. pages
  if (only('pages')) {
    const pageTargets: PageTarget[] = [
      { label: 'baseline', url: `${base}/html` },
      { label: 'catalogue anonymous', url: `${app}/` },
      { label: 'catalogue signed in', url: `${app}/`, headers: signedIn },
      { label: 'content page anonymous', url: `${app}/content/bench-item-5000` },
      { label: 'content page signed in', url: `${app}/content/bench-item-5000`, headers: signedIn }
    ]
    const pageRps = new Map<string, number[]>(pageTargets.map((t) => [t.label, []]))
    const pageP99 = new Map<string, number[]>(pageTargets.map((t) => [t.label, []]))
    log('warming up page routes')
    for (const target of pageTargets) await cannon({ url: target.url, headers: target.headers, connections: 16, duration: 1 })
    for (let run = 1; run <= RUNS; run++) {
    // Round robin: noise from the other tenants of the machine falls on app and yardstick alike.
      for (const target of pageTargets) {
        const result = await cannon({ url: target.url, headers: target.headers, connections: 16, duration: SECONDS })
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${target.label}: ${result.non2xx} non-2xx, ${result.errors} errors`)
        pageRps.get(target.label)!.push(result.requests.average)
        pageP99.get(target.label)!.push(result.latency.p99)
        log(`run ${run} ${target.label}: ${fmt(result.requests.average)} req/s, p99 ${result.latency.p99} ms`)
      }
    }
    const baselineRps = median(pageRps.get('baseline')!)
    rows.push({ scenario: 'bare Fastify, fixed HTML string of the catalogue page size', metric: 'req/s', app: '-', baseline: fmt(baselineRps), ratio: '1.00', goal: '', runs: pageRps.get('baseline')!.map((v) => fmt(v)).join(' / ') })
    for (const target of pageTargets.slice(1)) {
      const rps = median(pageRps.get(target.label)!)
      const goal = target.label.startsWith('catalogue') ? '≥ 0.50' : ''
      const what = target.label.startsWith('catalogue') ? '10,000 items, first page of 24' : 'one paid item, buy form'
      rows.push({ scenario: `${target.label} (${what}), p99 ${fmt(median(pageP99.get(target.label)!), 1)} ms`, metric: 'req/s', app: fmt(rps), baseline: fmt(baselineRps), ratio: (rps / baselineRps).toFixed(2), goal, runs: pageRps.get(target.label)!.map((v) => fmt(v)).join(' / ') })
    }
  }

  // ---------------------------------------------------------- 2. downloads
  if (only('downloads')) {
    const bigUrl = `${app}/content/${big.slug}/download`
    const check = await fetch(bigUrl, { headers: signedIn })
    const checkBytes = (await check.arrayBuffer()).byteLength
    if (check.status !== 200 || checkBytes !== big.file_size) throw new Error(`download answered ${check.status} with ${checkBytes} bytes`)
    const downloadTargets: PageTarget[] = [
      { label: '@fastify/static', url: `${base}/files/${big.file_key}` },
      { label: 'app download by owner', url: bigUrl, headers: signedIn }
    ]
    const throughput = new Map<string, number[]>(downloadTargets.map((t) => [t.label, []]))
    for (let run = 1; run <= RUNS; run++) {
      for (const target of downloadTargets) {
        const result = await download(target.url, target.headers ?? {}, 4, SECONDS)
        if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${target.label}: answered ${[...result.statuses].join(', ')}`)
        throughput.get(target.label)!.push(result.mbPerSecond)
        log(`run ${run} ${target.label} (50 MB): ${fmt(result.mbPerSecond)} MB/s`)
      }
    }
    const staticMbs = median(throughput.get('@fastify/static')!)
    const appMbs = median(throughput.get('app download by owner')!)
    rows.push({ scenario: 'download of a 50 MB PDF, 4 clients', metric: 'MB/s', app: fmt(appMbs), baseline: fmt(staticMbs), ratio: (appMbs / staticMbs).toFixed(2), goal: '≥ 0.70', runs: `${throughput.get('app download by owner')!.map((v) => fmt(v)).join(' / ')} vs ${throughput.get('@fastify/static')!.map((v) => fmt(v)).join(' / ')}` })

    // 32 clients each downloading a 500 MB file: the server's memory must not grow with the file.
    const rssTargets: Array<PageTarget & { pid: number }> = [
      { label: '@fastify/static', url: `${base}/files/${huge.file_key}`, pid: baseProcess.pid! },
      { label: 'app', url: `${app}/content/${huge.slug}/download`, headers: signedIn, pid: appPid }
    ]
    const growth = new Map<string, number[]>(rssTargets.map((t) => [t.label, []]))
    for (let run = 1; run <= RUNS; run++) {
      for (const target of rssTargets) {
        await sleep(300)
        const idle = rssMb(target.pid)
        let peak = idle
        const sampler = setInterval(() => { peak = Math.max(peak, rssMb(target.pid)) }, 20)
        const result = await download(target.url, target.headers ?? {}, 32, SECONDS)
        clearInterval(sampler)
        if ([...result.statuses].some((status) => status !== 200)) throw new Error(`${target.label}: answered ${[...result.statuses].join(', ')}`)
        growth.get(target.label)!.push(peak - idle)
        log(`run ${run} ${target.label} 32 x 500 MB: idle ${fmt(idle)} MB, peak ${fmt(peak)} MB, ${fmt(result.mbPerSecond)} MB/s`)
      }
    }
    const appGrowth = median(growth.get('app')!)
    const staticGrowth = median(growth.get('@fastify/static')!)
    rows.push({ scenario: `RSS growth over idle while 32 clients download a 500 MB file (${SECONDS} s); app VmHWM ${fmt(rssMb(appPid, 'VmHWM'))} MB`, metric: 'MB', app: fmt(appGrowth, 1), baseline: fmt(staticGrowth, 1), ratio: '', goal: '< 64 MB', runs: `${growth.get('app')!.map((v) => fmt(v, 1)).join(' / ')} vs ${growth.get('@fastify/static')!.map((v) => fmt(v, 1)).join(' / ')}` })
  }

  // ---------------------------------------------------------- 3. webhooks
  if (only('webhooks')) {
    const eventsPerSecond: number[] = []
    const webhookP99: number[] = []
    const grantsOk: string[] = []
    const contentIds = await runner.all(db.selectFrom('content').select('id').where('slug', 'like', 'bench-item-%').where('price_cents', '>', 0).orderBy('id'))
    for (let run = 1; run <= RUNS; run++) {
      const buyer = await users.upsert({ provider: 'bench', subject: `webhook-buyer-${run}`, email: `buyer${run}@example.com`, emailVerified: true, name: `Buyer ${run}` })
      const items = contentIds.slice((run - 1) * WEBHOOK_ORDERS, run * WEBHOOK_ORDERS)
      const bodies = await runner.transaction(async () => await Promise.all(items.map(async ({ id }, index) => {
        const order = await orders.create(buyer.id, (await catalog.findById(id))!)
        const sessionId = `cs_bench_${run}_${index}_${order.id.slice(0, 8)}`
        await orders.attachSession(order.id, sessionId)
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
        url: `${app}/webhooks/stripe`,
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
      log(`run ${run} webhooks: ${signed.length} deliveries in ${seconds.toFixed(2)} s = ${fmt(signed.length / seconds)}/s, p99 ${result.latency.p99} ms, ${result['2xx']} 2xx, ${granted} grants, ${paid} paid`)
    }
    rows.push({ scenario: `webhook ingest: ${WEBHOOK_ORDERS} pending orders, ${WEBHOOK_ORDERS * 1.2} signed deliveries (20% redeliveries), 32 concurrent`, metric: 'events/s', app: fmt(median(eventsPerSecond)), baseline: '', ratio: '', goal: '≥ 2,000', runs: eventsPerSecond.map((v) => fmt(v)).join(' / ') })
    rows.push({ scenario: 'webhook ingest latency', metric: 'p99 ms', app: fmt(median(webhookP99), 1), baseline: '', ratio: '', goal: '', runs: webhookP99.map((v) => fmt(v, 1)).join(' / ') })
    rows.push({ scenario: 'webhook ingest: grants after each run (must be exactly 2,000)', metric: 'grants', app: grantsOk.join(' / '), baseline: '', ratio: '', goal: '= 2,000', runs: '' })
  }

  // ---------------------------------------------------------- 4. success redirect
  if (only('success')) {
  // Sessions are created through the app (POST /checkout/<slug>) and paid on the emulator; the
  // buyer's return to /checkout/success is then timed by the app itself (Server-Timing app;dur).
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
      log(`run ${run} success redirect: server p50 ${percentile(serverMs, 50).toFixed(2)} ms, p99 ${percentile(serverMs, 99).toFixed(2)} ms; client p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`)
    }
    const p50s = successMs.map((values) => percentile(values, 50))
    const p99s = successMs.map((values) => percentile(values, 99))
    rows.push({ scenario: `success redirect fulfilment (${SUCCESS_REQUESTS} paid sessions per run, one at a time), server's own time`, metric: 'p50 ms', app: fmt(median(p50s), 2), baseline: '', ratio: '', goal: '', runs: p50s.map((v) => fmt(v, 2)).join(' / ') })
    rows.push({ scenario: 'success redirect fulfilment, server\'s own time', metric: 'p99 ms', app: fmt(median(p99s), 2), baseline: '', ratio: '', goal: '< 10 ms', runs: p99s.map((v) => fmt(v, 2)).join(' / ') })
    rows.push({ scenario: 'success redirect, as the client saw it (includes loopback and the HTTP client)', metric: 'p50 / p99 ms', app: `${fmt(median(successClientMs.map((v) => v[0]!)), 1)} / ${fmt(median(successClientMs.map((v) => v[1]!)), 1)}`, baseline: '', ratio: '', goal: '', runs: '' })
  }

  // ---------------------------------------------------------- 5. catalogue search
  if (only('search')) {
    // The catalogue grows to 100,000 items, titles and descriptions drawn from a small
    // vocabulary; one item in 90 of the new ones (1,000, i.e. 1% of all) mentions the searched
    // word, half of them in the title. Inserted by this process while the app runs: the app sees
    // them (its FTS5 index is kept by triggers in the same transaction).
    const words = ['atlas', 'river', 'garden', 'recipes', 'history', 'notes', 'guide', 'maps', 'stories', 'letters', 'winter', 'harbour', 'forest', 'city', 'songs', 'poems', 'workbook', 'sketches', 'journal', 'field']
    const pick = (i: number, salt: number): string => words[(i * 7 + salt * 13 + Math.floor(i / 20)) % words.length]!
    const existing = (await runner.first(db.selectFrom('content').select((eb) => eb.fn.countAll<number>().as('n'))))!.n
    const extra = SEARCH_ITEMS - existing
    log(`seeding ${fmt(extra)} more items for search (to ${fmt(SEARCH_ITEMS)})`)
    const seedStart = Date.now()
    await runner.transaction(async () => {
      for (let i = 1; i <= extra; i++) {
        const marked = i % 90 === 0
        const title = `${pick(i, 1)} ${pick(i, 2)}${marked && i % 180 === 0 ? ` ${SEARCH_WORD}` : ''} ${i}`
        const description = `${pick(i, 3)} and ${pick(i, 4)}: ${pick(i, 5)} ${pick(i, 6)} for the ${pick(i, 7)}. ${marked && i % 180 !== 0 ? `A ${SEARCH_WORD} on the cover. ` : ''}`.repeat(3)
        await runner.run(db.insertInto('content').values(sharedFileRow(`search-item-${i}`, title, description, 100 + (i % 50) * 50)))
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
    rows.push({ scenario: `catalogue search at ${fmt(SEARCH_ITEMS)} items (\`/?q=${SEARCH_WORD}\`: ${fmt(matching)} matches, best first, first page of 24), 16 connections, p99 ${fmt(median(p99.get('search')!), 1)} ms (baseline p99 ${fmt(median(p99.get('baseline')!), 1)} ms)`, metric: 'req/s', app: fmt(searchRps), baseline: fmt(baselineRps), ratio: (searchRps / baselineRps).toFixed(2), goal: '', runs: rps.get('search')!.map((v) => fmt(v)).join(' / ') })
    rows.push({ scenario: 'catalogue search at 100,000 items, as the client saw it (16 connections: includes queueing)', metric: 'p99 ms', app: fmt(median(p99.get('search')!), 1), baseline: fmt(median(p99.get('baseline')!), 1), ratio: (median(p99.get('search')!) / median(p99.get('baseline')!)).toFixed(2), goal: '< 20 ms', runs: p99.get('search')!.map((v) => fmt(v, 1)).join(' / ') })
    rows.push({ scenario: 'catalogue search at 100,000 items, server\'s own time (the same search asked again: kept until the database changes)', metric: 'p99 ms', app: fmt(median(serverP99), 2), baseline: '', ratio: '', goal: '< 20 ms', runs: serverP99.map((v) => fmt(v, 2)).join(' / ') })
    rows.push({ scenario: `catalogue search at 100,000 items, first search (${firstMs.length} distinct pages and orders of it, one at a time), server's own time`, metric: 'p50 / p99 ms', app: `${fmt(percentile(firstMs, 50), 2)} / ${fmt(percentile(firstMs, 99), 2)}`, baseline: '', ratio: '', goal: '< 20 ms', runs: '' })
  }

  // ---------------------------------------------------------- report
  const cpu = cpus()
  const table = [
    '| scenario | metric | app (median) | baseline (median) | ratio | goal | runs |',
    '| --- | --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.scenario} | ${r.metric} | ${r.app} | ${r.baseline} | ${r.ratio} | ${r.goal} | ${r.runs} |`)
  ].join('\n')
  const report = `# Benchmark results

Written by \`npm run bench\` (bench/run.ts). Do not edit by hand.

- Date: ${new Date().toISOString()}
- Machine: ${cpu.length} cores (${cpu[0]?.model ?? 'unknown'}), ${fmt(totalmem() / 1024 / MB, 1)} GB RAM, load average at the end ${loadavg().map((v) => v.toFixed(2)).join(' ')}
- Node ${process.version}; app: \`node dist/src/server.js\`, NODE_ENV=production, LOG_LEVEL=warn, RATE_LIMIT_PER_MINUTE=0
- ${RUNS} runs per scenario, ${SECONDS} s each for the timed ones, app and yardstick alternating; medians shown, each run's figure in the last column
- Whole run: ${((Date.now() - started) / 1000).toFixed(0)} s

${table}

How each figure is taken:

- Pages: autocannon, 16 connections. The yardstick is a bare Fastify route in its own process answering a fixed HTML string as long as the anonymous catalogue page (${fmt(pageBytes)} bytes). "Signed in" sends the session cookie got by the real OIDC flow over HTTP (GET /login, the provider's authorize URL, GET /login/callback).
- Download: 4 keep-alive clients (node:http) downloading the owner's 50 MB PDF again and again for ${SECONDS} s, counting bytes as they arrive, against @fastify/static serving the same file with no checks, in its own process. (autocannon counts a body only when it is complete: in steps of 50 MB.)
- RSS: VmRSS of the server's pid from /proc/<pid>/status sampled every 20 ms while 32 such clients download a 500 MB PDF for ${SECONDS} s, minus VmRSS just before; the yardstick's growth under the same load is shown beside it.
- Webhooks: ${WEBHOOK_ORDERS} pending orders made with the app's orders service; one signed \`checkout.session.completed\` per order plus ${WEBHOOK_ORDERS / 5} redeliveries of the same events, shuffled and posted by autocannon over 32 connections. events/s = deliveries / wall time; grants = library rows of that buyer afterwards, checked against 2,000 (and every order paid, every delivery 2xx).
- Search: the catalogue is grown to ${fmt(SEARCH_ITEMS)} items after the other scenarios (so they keep measuring 10,000), 1% of them mentioning "${SEARCH_WORD}"; autocannon, 16 connections, against \`/?q=${SEARCH_WORD}\` (FTS5 match, bm25 order, count, page of 24 rendered; a search is kept until the database changes, so a first search is also timed: each page of the results in each order asked once) and the same bare-Fastify yardstick; the server's own time is its \`Server-Timing\` header.
- Success redirect: each checkout is started over HTTP (POST /checkout/<slug>), paid on the Stripe-compatible emulator, then GET /checkout/success is requested once per session by one autocannon connection. The server's own time is the \`Server-Timing: app;dur=\` header, Fastify's reply.elapsedTime when the reply is sent (routing, hooks, session, the Stripe retrieve on loopback, the fulfilment transaction and the page render).
`
  // A partial run (BENCH_ONLY) must not replace the full report.
  writeFileSync(join(ROOT, 'bench', process.env.BENCH_ONLY === undefined ? 'results.md' : 'tmp/results-partial.md'), report)
  console.log('\n' + table + '\n')
  log('wrote bench/results.md')
} finally {
  await cleanup()
}
