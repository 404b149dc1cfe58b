// The pdf scenario's own configuration (SQLite + folder): a database and content folder of its
// own, seeded through the app's services with the PDF module's hooks (each upload read by the
// engine as the upload form does), `stamp_pdfs` on, and one app instance started with the
// event-loop preload. Its own, so that no other instance's job runner takes its PDF jobs.
import { createReadStream } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { migrateToLatest, openDatabase, type SqliteHandle } from '../src/db/database.js'
import type { Content } from '../src/db/types.js'
import { createItems } from '../src/modules/items/items.js'
import type { FormEntry } from '../src/modules/items/uploads.js'
import { createJobQueue } from '../src/modules/pdf/jobs.js'
import { createPdfPool, type PdfPool } from '../src/modules/pdf/pool.js'
import { createPdfService } from '../src/modules/pdf/service.js'
import { createOrders } from '../src/modules/purchase/orders.js'
import { createFileStore } from '../src/storage/folder-store.js'
import type { Store } from '../src/storage/store.js'
import { pngBytes } from '../test/helpers/fixtures.js'
import { makePdf, writeBigPdf } from '../test/helpers/pdfs.js'
import { AFTER, LABELS, runDir, silent, SMALL_ITEMS, startInstance } from './context.js'
import { fmt, log, MB, ROOT, signIn, type Started, stopProcess } from './lib.js'
import { growCatalogue } from './seed.js'

export const ADMIN_EMAIL = 'admin@pdf-bench.example'
export const BIG_PAGES = 500
export const HUGE_PAGES = 1_000
/** Bytes of each page's image: 500 pages make the 50 MB file, 1,000 the 100 MB one. */
const BYTES_PER_PAGE = 100 * 1024

export interface PdfBench {
  label: string
  handle: SqliteHandle
  files: Store
  /** The bench's own engine (reads each upload, as the upload form has the app do). */
  pool: PdfPool
  pdf: ReturnType<typeof createPdfService>
  orders: ReturnType<typeof createOrders>
  /** DATABASE_URL and CONTENT_DIR of its app. */
  env: Record<string, string>
  app: Started & { url: string, port: number }
  /** The 50 MB, 500-page item and the 100 MB, 1,000-page one, on sale; `looks`: items whose page images and sample are made during the event-loop runs. */
  big: Content
  huge: Content
  looks: Content[]
  /** The admin's cookie: admins' downloads are never stamped (the plain download of the same file). */
  admin: Record<string, string>
  buyers: number
}

/** Everything the scenario needs, its app listening; `looks` items: one per event-loop run. */
export async function setUpPdf (looks: number): Promise<PdfBench> {
  const dir = join(runDir, 'pdf')
  const contentDir = join(dir, 'content')
  const dbPath = join(dir, 'marketplace.db')
  await mkdir(contentDir, { recursive: true })
  const handle = openDatabase(dbPath)
  const files = createFileStore(contentDir)
  const pool = createPdfPool()
  const { db, runner } = handle
  let app: PdfBench['app'] | undefined
  try {
    await migrateToLatest(db)
    // On before the app starts: on SQLite the settings are read once, at start.
    await runner.run(db.insertInto('settings').values({ key: 'stamp_pdfs', value: '1' }))
    const pdf = createPdfService({ db, runner, files, pool, queue: createJobQueue({ db, runner }), kick: () => {}, demand: () => {} })
    const items = createItems({ db, runner, files, currency: 'usd', maxUploadBytes: 600 * MB, pdf })
    const orders = createOrders({ db, runner, log: silent, provider: 'stripe' })

    const bigPath = join(dir, 'big.pdf')
    const hugePath = join(dir, 'huge.pdf')
    const smallPath = join(dir, 'small.pdf')
    const bigBytes = await writeBigPdf(bigPath, BIG_PAGES, BYTES_PER_PAGE)
    const hugeBytes = await writeBigPdf(hugePath, HUGE_PAGES, BYTES_PER_PAGE)
    await writeFile(smallPath, await makePdf({ pages: 3 }))
    log(`pdf: seeding its own SQLite + folder: a ${fmt(bigBytes / MB, 1)} MB, ${BIG_PAGES}-page PDF, a ${fmt(hugeBytes / MB, 1)} MB, ${fmt(HUGE_PAGES)}-page one, ${fmt(SMALL_ITEMS)} catalogue items`)
    // No page images nor sample at upload: the jobs of an item appear when a phase wants them.
    const upload = async (title: string, path: string): Promise<Content> => {
      async function * entries (): AsyncGenerator<FormEntry> {
        yield { name: 'file', fileName: 'book.pdf', stream: createReadStream(path) }
        yield { name: 'preview', fileName: 'cover.png', stream: Readable.from([pngBytes()]) }
      }
      const result = await items.receiveUpload(entries(), { title, description: 'A PDF of the pdf benchmark.', price: '9.00', preview_pages: '0', sample_pages: '0' })
      if (!result.ok) throw new Error(`pdf: uploading ${title}: ${JSON.stringify(result.problems)}`)
      if (result.content.page_count === null) throw new Error(`pdf: ${title} was uploaded without its page count`)
      return result.content
    }
    const big = await upload('PDF bench 50 MB', bigPath)
    const huge = await upload('PDF bench 100 MB', hugePath)
    const looksItems: Content[] = []
    for (let i = 1; i <= looks; i++) looksItems.push(await upload(`PDF bench look inside ${i}`, bigPath))
    await growCatalogue({ handle }, await upload('Bench small', smallPath), SMALL_ITEMS)

    const label = LABELS.sqlite
    const env = { DATABASE_URL: dbPath, CONTENT_DIR: contentDir }
    app = await startApp(env, handle)
    const admin = { cookie: (await signIn(app.url, ADMIN_EMAIL, 'Ada Admin')).header }
    return { label, handle, files, pool, pdf, orders, env, app, big, huge, looks: looksItems, admin, buyers: 0 }
  } catch (error) {
    if (app !== undefined) await stopProcess(app.child)
    await pool.close()
    await handle.close()
    throw error
  }
}

/** The scenario's app: this tree's build, its admin, the event-loop preload. */
async function startApp (env: Record<string, string>, handle: SqliteHandle): Promise<PdfBench['app']> {
  return await startInstance({ env, label: LABELS.sqlite, handle }, 'app (pdf, stamp_pdfs on)', { ADMIN_EMAILS: ADMIN_EMAIL }, AFTER,
    ['--require', join(ROOT, 'bench', 'loop-delay-preload.cjs')])
}

/** A fresh app process in place of the running one (same database, store and sessions). */
export async function restartApp (bench: PdfBench): Promise<void> {
  await stopProcess(bench.app.child)
  bench.app = await startApp(bench.env, bench.handle)
}

export async function tearDownPdf (bench: PdfBench): Promise<void> {
  await stopProcess(bench.app.child)
  await bench.pool.close()
  await bench.files.close()
  await bench.handle.close()
}

/** A new reader, signed in over HTTP, who bought `item` (an order fulfilled by the app's one fulfilment function): their cookie and order id. */
export async function newBuyer (bench: PdfBench, item: Content): Promise<{ headers: Record<string, string>, orderId: string }> {
  const { db, runner } = bench.handle
  const n = ++bench.buyers
  const email = `buyer${n}@pdf-bench.example`
  const jar = await signIn(bench.app.url, email, `Buyer ${n}`)
  const user = await runner.first(db.selectFrom('users').select('id').where('email', '=', email))
  if (user === undefined) throw new Error(`pdf: ${email} signed in but has no row`)
  const order = await bench.orders.create(user.id, item)
  await bench.orders.attachCheckout(order.id, `cs_pdf_${order.id}`)
  const result = await bench.orders.fulfil({ id: `cs_pdf_${order.id}`, orderId: order.id, paymentStatus: 'paid', amountTotal: item.price_cents, currency: item.currency, paymentIntent: null })
  if (result.outcome !== 'granted') throw new Error(`pdf: granting ${email}: ${result.outcome}`)
  return { headers: { cookie: jar.header }, orderId: order.id }
}
