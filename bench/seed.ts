// Each configuration's database, store, services and app processes, seeded through the app's own
// services; the catalogue grown to a size by rows that share one small item's files.
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { sql } from 'kysely'
import type { DatabaseHandle } from '../src/db/database.js'
import { migrateToLatest, openDatabase } from '../src/db/database.js'
import { openPostgres } from '../src/db/postgres.js'
import type { Content } from '../src/db/types.js'
import { createCatalog } from '../src/modules/catalog/catalog.js'
import { createFileStore } from '../src/storage/folder-store.js'
import type { Store } from '../src/storage/store.js'
import { createOrders } from '../src/modules/purchase/orders.js'
import { createS3Store } from '../src/storage/s3-store.js'
import type { FormEntry } from '../src/modules/items/uploads.js'
import { createItems } from '../src/modules/items/items.js'
import { createUsers } from '../src/modules/accounts/users.js'
import { pngBytes } from '../test/helpers/fixtures.js'
import { startPostgres } from '../test/helpers/postgres.js'
import { BUCKET } from '../test/helpers/s3.js'
import {
  AFTER, type AppInstance, type Backend, type BackendName, backends, BIG, builds, compiled, explicitBackends, HUGE, ITEMS, LABELS,
  POSTGRES_SETTINGS, runDir, SEARCH_WORD, silent, SMALL_ITEMS, startInstance, teardowns
} from './context.js'
import { fmt, log, MB, pdfStream, signIn, startProcess } from './lib.js'

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

export async function setUp (name: BackendName): Promise<Backend | undefined> {
  const label = LABELS[name]
  const opened = await openBackend(name)
  if (opened === undefined) return undefined
  const { handle, files } = opened
  await migrateToLatest(handle.db)
  const { db, runner } = handle
  const catalog = createCatalog({ db, runner, changeStamp: handle.changeStamp })
  const items = createItems({ db, runner, files, currency: 'usd', maxUploadBytes: 600 * MB })
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
    async function * entries (): AsyncGenerator<FormEntry> {
      yield { name: 'file', fileName: 'bench.pdf', stream: Readable.from(pdfStream(size)) }
      yield { name: 'preview', fileName: 'cover.png', stream: Readable.from([pngBytes()]) }
    }
    const result = await items.receiveUpload(entries(), { title, description: `A ${size / MB} MB benchmark file.`, price })
    if (!result.ok) throw new Error(`seeding ${title}: ${JSON.stringify(result.problems)}`)
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
export async function growCatalogue (backend: Pick<Backend, 'handle'>, small: Content, total: number): Promise<void> {
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
