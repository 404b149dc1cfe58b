// What every scenario of `npm run bench` shares: the settings read from the environment, the
// configurations measured (backends) and builds, the Stripe-compatible server and the OIDC
// provider (started when this module is first imported), the rows and goals of the report, and
// how an app instance is started. Cleaned up by cleanup(), also on Ctrl-C.
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { type Compilable, type RawBuilder, sql } from 'kysely'
import type { DatabaseHandle } from '../src/db/database.js'
import type { Content } from '../src/db/types.js'
import { startIdentityProvider } from '../src/dev/identity-provider.js'
import { startStripeEmulator } from '../src/dev/stripe-emulator/index.js'
import type { createCatalog } from '../src/modules/catalog/catalog.js'
import type { Store } from '../src/storage/store.js'
import type { createOrders } from '../src/modules/purchase/orders.js'
import type { createUsers } from '../src/modules/accounts/users.js'
import { freePort, log, MB, ROOT, type Started, startProcess, stopAll } from './lib.js'
import { afterBuild, beforeBuild, type Build } from './builds.js'

export const RUNS = Number(process.env.BENCH_RUNS ?? 3)
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
export const ITEMS = 10_000
// The catalogue is seeded to 1,000 items first: the scale scenario measures there, then at
// SEARCH_ITEMS; the other scenarios run at ITEMS in between.
export const SMALL_ITEMS = 1_000
// Scale: pages asked one at a time, each after a write (an edit of one item) so that no cache
// of the app can answer it, per run; their server's own p99.
export const UNCACHED_REQUESTS = 100
// Memory: page views per phase, after which the idle RSS is read.
export const MEMORY_VIEWS = 10_000
export const NO_GROWTH_MB = 5
export const WEBHOOK_ORDERS = 2_000
export const SUCCESS_REQUESTS = 200
// Catalogue search runs on a bigger catalogue, seeded only for it (after the other scenarios).
export const SEARCH_ITEMS = 100_000
export const SEARCH_WORD = 'lighthouse'
export const SCALE_PAGES = [{ label: 'first page', path: '/' }, { label: 'search', path: `/?q=${SEARCH_WORD}` }]
export const BIG = 50 * MB
export const HUGE = 500 * MB
export const WEBHOOK_SECRET = 'whsec_bench_' + randomBytes(12).toString('hex')
export const SCENARIOS = ['pages', 'downloads', 'webhooks', 'success', 'search', 'scale', 'start', 'memory', 'pdf']
export const only = (name: string): boolean => process.env.BENCH_ONLY === undefined || process.env.BENCH_ONLY.split(',').includes(name)
for (const name of (process.env.BENCH_ONLY ?? '').split(',').filter((n) => n !== '')) {
  if (!SCENARIOS.includes(name)) throw new Error(`BENCH_ONLY: unknown scenario "${name}" (${SCENARIOS.join(', ')})`)
}

export type BackendName = 'sqlite' | 'postgres'
export const LABELS: Record<BackendName, string> = { sqlite: 'SQLite + folder', postgres: 'PostgreSQL + S3' }
export const wanted = (process.env.BENCH_BACKENDS ?? 'sqlite,postgres').split(',').filter((n) => n !== '')
for (const name of wanted) {
  if (!(name in LABELS)) throw new Error(`BENCH_BACKENDS: unknown configuration "${name}" (sqlite, postgres)`)
}
export const explicitBackends = process.env.BENCH_BACKENDS !== undefined
// PostgreSQL as in production: every commit durable (the tests' clusters switch that off).
export const POSTGRES_SETTINGS = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: '128MB' }

/** One app process of a configuration, of one build. */
export interface AppInstance { build: Build, url: string, pid: number }

/** One configuration: its database and store, its services (for seeding and checking) and its app process. */
export interface Backend {
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

export const runDir = join(ROOT, 'bench', 'tmp', `run-${process.pid}`)
// The files nginx and @fastify/static serve: the same bytes as the big and huge PDFs uploaded.
export const staticDir = join(runDir, 'static')
export const sessionSecret = randomBytes(32).toString('hex')
export const silent = Fastify({ logger: false }).log

export const stripe = await startStripeEmulator({ webhookSecret: WEBHOOK_SECRET, log: () => {} })
export const idp = await startIdentityProvider()
export const backends: Backend[] = []
/** What startPostgres registers to be undone (tap's teardown, here). */
export const teardowns: Array<() => unknown> = []
export const AFTER = afterBuild()
/** The builds measured, before first: each goal's scenario alternates between them. */
export const builds: Build[] = [AFTER]
let removeBefore: (() => Promise<void>) | undefined
let removeAfter: (() => Promise<void>) | undefined
/** The machine's load average (1 min) when each scenario started. */
export const loads: string[] = [`start ${loadavg()[0]!.toFixed(2)}`]
export const scenarioStart = (name: string): void => {
  const load = loadavg().map((v) => v.toFixed(2)).join(' ')
  loads.push(`${name} ${loadavg()[0]!.toFixed(2)}`)
  log(`${name}: load average ${load}`)
}

/**
 * BENCH_BEFORE=<commit-ish>: that commit, built in a temporary git worktree, measured before this
 * tree. BENCH_AFTER=<commit-ish>: that commit stands for this tree (AFTER takes its place).
 */
export async function addBeforeBuild (): Promise<void> {
  const afterRef = process.env.BENCH_AFTER
  if (afterRef !== undefined) {
    const { remove, ...after } = await beforeBuild(afterRef, 'after')
    Object.assign(AFTER, after)
    removeAfter = remove
  }
  const beforeRef = process.env.BENCH_BEFORE
  if (beforeRef === undefined) return
  const before = await beforeBuild(beforeRef)
  removeBefore = before.remove
  builds.unshift(before)
}

let cleaned: Promise<void> | undefined
export async function cleanup (): Promise<void> {
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
    await removeAfter?.()
  })()
  await cleaned
}
// Ctrl-C: everything started is stopped all the same.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { log(`${signal}: stopping what was started`); cleanup().finally(() => process.exit(130)) })
}

export function appEnv (backend: Pick<Backend, 'env'>, port: number, extra: Record<string, string> = {}): Record<string, string> {
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
export async function startInstance (backend: Pick<Backend, 'env' | 'label' | 'handle'>, name: string, extra: Record<string, string> = {}, build: Build = AFTER, nodeArgs: string[] = []): Promise<Started & { url: string, port: number }> {
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

export const compiled = <R>(handle: DatabaseHandle, query: RawBuilder<R>): Compilable<R> => {
  const done = query.compile(handle.db)
  return { compile: () => done }
}

/**
 * The database is migrated by this tree; a before build migrates at start-up too, and Kysely
 * refuses a database with migrations it does not know. Those rows are taken out of
 * kysely_migration while it starts (it then finds nothing to do) and put back: the older code
 * runs on the newer schema, as an older instance does during a rolling deploy.
 */
export async function hideNewerMigrations (handle: DatabaseHandle, build: Build): Promise<() => Promise<void>> {
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

export interface PageTarget { label: string, url: string, headers?: Record<string, string>, backend?: Backend, build?: Build, /** The app's process: its CPU per request is measured. */ pid?: number }
export interface Row { config: string, scenario: string, metric: string, app: string, baseline: string, ratio: string, goal: string, runs: string }
export const rows: Row[] = []
export const YARDSTICK = 'yardstick'

/** A goal of issue 15: one row of the goals table, a value per build; met? judged on this tree's. */
export interface Goal { order: number, figure: string, goal: string, values: Map<Build['name'], string>, met?: string }
export const goals: Goal[] = []
export function recordGoal (order: number, figure: string, goal: string, build: Build, value: string, met: boolean | undefined): void {
  let entry = goals.find((g) => g.figure === figure)
  if (entry === undefined) {
    entry = { order, figure, goal, values: new Map() }
    goals.push(entry)
  }
  entry.values.set(build.name, value)
  if (build === AFTER) entry.met = met === undefined ? 'reported' : met ? 'yes' : 'no'
}
/** A configuration and build as the detailed table names them. */
export const configOf = (backend: Pick<Backend, 'label'>, build: Build): string => builds.length > 1 ? `${backend.label}, ${build.label}` : backend.label

/** The server's own time, from a Server-Timing header (fetch's Headers or autocannon's object). */
export function serverTiming (headers: unknown): number | undefined {
  const value = headers instanceof Headers ? headers.get('server-timing') : (headers as Record<string, unknown> | undefined)?.['server-timing']
  const timing = /app;dur=([\d.]+)/.exec(String(value ?? ''))
  return timing === null ? undefined : Number(timing[1])
}

/** The small item whose files the seeded rows share. */
export async function smallItem (backend: Pick<Backend, 'handle'>): Promise<Content> {
  const { db, runner } = backend.handle
  return (await runner.first(db.selectFrom('content').selectAll().where('title', '=', 'Bench small')))!
}
