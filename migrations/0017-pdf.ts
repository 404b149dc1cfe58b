import { type Kysely, sql } from 'kysely'
import { autoId, bytesType, nowText } from './dialect.js'

// PDF-native selling (src/modules/pdf/):
// - What the file is: its page count (and title, author) read at upload, per version, and the
//   latest one's beside the item (as file_key is); why a version cannot be stamped, if it cannot.
// - How much of it anyone may see: preview_pages page images and a sample_pages-page sample.
// - pdf_assets: the page images and samples made from a version, kept in the store.
// - stamped_copies: each buyer's own copy of a version (STAMP_PDFS), made once, served as is;
//   copy_id is the random mark embedded in it, by which /admin/trace finds the order.
// - pdf_jobs: the work behind them (render, sample, stamp), written in the transaction of what
//   caused it, run off the event loop by whichever instance claims it (a lease, like the outbox),
//   and run again after a crash when the lease runs out. job_key makes one job of two requests.
// Items that exist when this runs get their page images and facts made by a job each.
export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('content').addColumn('preview_pages', 'integer', (c) => c.notNull().defaultTo(3)).execute()
  await db.schema.alterTable('content').addColumn('sample_pages', 'integer', (c) => c.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('content').addColumn('page_count', 'integer').execute()
  for (const [name, type] of [['page_count', 'integer'], ['pdf_title', 'text'], ['pdf_author', 'text'], ['stamp_problem', 'text']] as const) {
    await db.schema.alterTable('content_versions').addColumn(name, type).execute()
  }
  await db.schema.createTable('pdf_assets')
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('n', 'integer', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('size', bytesType(db), (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('pdf_assets_pk', ['content_id', 'version', 'kind', 'n'])
    .execute()
  await db.schema.createTable('stamped_copies')
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id').onDelete('cascade'))
    .addColumn('content_id', 'integer', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('copy_id', 'text', (c) => c.notNull().unique())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('size', bytesType(db), (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addPrimaryKeyConstraint('stamped_copies_pk', ['order_id', 'version'])
    .execute()
  await db.schema.createTable('pdf_jobs')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('job_key', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('content_id', 'integer', (c) => c.notNull().references('content.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending'))
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_until', 'text')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull().defaultTo(nowText(db)))
    .addColumn('done_at', 'text')
    .execute()
  // The runners' question ("what is there to do?") reads only the pending rows.
  await sql`CREATE INDEX pdf_jobs_pending ON pdf_jobs (id) WHERE status = 'pending'`.execute(db)
  // Existing items: their latest version's facts and page images, made in the background.
  await sql`INSERT INTO pdf_jobs (job_key, kind, content_id, version, pages)
    SELECT 'render:' || c.id || ':' || v.version || ':3', 'render', c.id, v.version, 3
    FROM content c JOIN content_versions v ON v.content_id = c.id
    WHERE v.version = (SELECT max(version) FROM content_versions WHERE content_id = c.id)`.execute(db)
}

export async function down (): Promise<void> {
  throw new Error('migrations are forward-only')
}
