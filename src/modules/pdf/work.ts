import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, PdfJob } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import type { PendingFile, Store } from '../../storage/store.js'
import { inTempDir, keep, withLocalCopy } from './files.js'
import type { PdfPool } from './pool.js'

/** Page images are made this wide (px): the strip shows them at up to 800 CSS px. */
export const PAGE_WIDTH = 800

export interface WorkDeps {
  db: Kysely<Database>
  runner: Runner
  files: Store
  pool: PdfPool
  log: FastifyBaseLogger
  maxUploadBytes: number
}

/** The visible line of a buyer's copy: the contract's words. */
export const licenceLine = (email: string, orderId: string): string => `Licensed to ${email} · Order ${orderId.slice(0, 8)}`

/** Inserts a made file's row, or removes the file when another run of the job wrote it first. */
async function recordOnce (files: Store, key: string, insert: () => Promise<number>): Promise<void> {
  const inserted = await insert()
  if (inserted === 0) await files.remove(key).catch(() => {})
}

/**
 * A render job's page images, all rows at once: the item page's strip shows the pages together
 * or not at all. Returns the files of pages another run of the job wrote first.
 */
async function recordPages ({ db, runner }: WorkDeps, job: PdfJob, kept: PendingFile[], contentType: string): Promise<string[]> {
  return await runner.transaction(async () => {
    const already: string[] = []
    for (const [index, file] of kept.entries()) {
      const { changes } = await runner.run(db.insertInto('pdf_assets').values({
        content_id: job.content_id, version: job.version, kind: 'page', n: index + 1, key: file.key, content_type: contentType, size: file.size
      }).onConflict((oc) => oc.columns(['content_id', 'version', 'kind', 'n']).doNothing()))
      if (changes === 0) already.push(file.key)
    }
    return already
  })
}

/**
 * What each kind of job does, from a claimed row to the row of what it made. Each reads the
 * version's file from the store, has the engine (worker threads) do the PDF work, keeps the
 * result in the store and then writes its row; a row already there (a job run twice after a
 * lapsed lease) keeps the first and removes the second file.
 */
export function createWork (deps: WorkDeps) {
  const { db, runner, files, pool, log } = deps

  async function versionOf (job: PdfJob) {
    const version = await runner.first(db.selectFrom('content_versions').selectAll()
      .where('content_id', '=', job.content_id).where('version', '=', job.version))
    // The item was deleted meanwhile: nothing to make.
    if (version === undefined) throw new DomainError('not_found', 'the version is gone')
    return version
  }

  /** The facts of a version uploaded before they were read (migrations/0017): read now. */
  async function readFacts (job: PdfJob, path: string): Promise<number> {
    const inspection = await pool.inspect(path)
    if (!inspection.ok) throw new DomainError('invalid', inspection.reason)
    const { facts } = inspection
    await runner.transaction(async () => {
      await runner.run(db.updateTable('content_versions').set({
        page_count: facts.pages, pdf_title: facts.title, pdf_author: facts.author, stamp_problem: facts.stampable ? null : facts.unstampableReason
      }).where('content_id', '=', job.content_id).where('version', '=', job.version))
      const latest = await runner.first(db.selectFrom('content_versions').select((eb) => eb.fn.max('version').as('v')).where('content_id', '=', job.content_id))
      if (latest?.v === job.version) await runner.run(db.updateTable('content').set({ page_count: facts.pages }).where('id', '=', job.content_id))
    })
    return facts.pages
  }

  async function render (job: PdfJob): Promise<void> {
    const version = await versionOf(job)
    await withLocalCopy(files, { key: version.file_key }, async (path) => {
      const pageCount = version.page_count ?? await readFacts(job, path)
      const pages = Math.min(job.pages, pageCount)
      if (pages === 0) return
      const rendered = await pool.render(path, { pages, width: PAGE_WIDTH })
      const kept: PendingFile[] = []
      for (const bytes of rendered.images) kept.push(await keep(files, { kind: 'image', bytes }, deps.maxUploadBytes))
      const taken = await recordPages(deps, job, kept, rendered.contentType)
      for (const key of taken) await files.remove(key).catch(() => {})
    })
  }

  async function sample (job: PdfJob): Promise<void> {
    const version = await versionOf(job)
    await withLocalCopy(files, { key: version.file_key }, async (path) => {
      await inTempDir(async (dir) => {
        const output = join(dir, 'sample.pdf')
        await pool.sample(path, output, { pages: job.pages })
        const kept = await keep(files, { kind: 'pdf', path: output }, deps.maxUploadBytes)
        await recordOnce(files, kept.key, async () => (await runner.run(db.insertInto('pdf_assets').values({
          content_id: job.content_id, version: job.version, kind: 'sample', n: job.pages, key: kept.key, content_type: 'application/pdf', size: kept.size
        }).onConflict((oc) => oc.columns(['content_id', 'version', 'kind', 'n']).doNothing()))).changes)
      })
    })
  }

  /**
   * A buyer's copy. A version the engine cannot stamp (encrypted, damaged) is flagged with why,
   * once, and its buyers get the file as uploaded: a stamp never blocks a download.
   */
  async function stamp (job: PdfJob): Promise<void> {
    const version = await versionOf(job)
    if (version.stamp_problem !== null) return
    const order = await runner.first(db.selectFrom('orders').innerJoin('users', 'users.id', 'orders.user_id')
      .select(['orders.id', 'users.email']).where('orders.id', '=', job.order_id ?? ''))
    if (order === undefined) throw new DomainError('not_found', 'the order is gone')
    const copyId = randomBytes(16).toString('hex')
    await withLocalCopy(files, { key: version.file_key }, async (path) => {
      await inTempDir(async (dir) => {
        const output = join(dir, 'copy.pdf')
        try {
          await pool.stamp(path, output, { line: licenceLine(order.email ?? '', order.id), orderId: order.id, copyId })
        } catch (error) {
          if (!(error instanceof DomainError) || error.kind !== 'invalid') throw error
          // Out of time (a busy server) is not the file's fault: the job is tried again later.
          if ((error.cause as Error | undefined)?.name === 'AbortError') throw new Error(`stamping timed out: ${error.message}`)
          log.warn({ contentId: job.content_id, version: job.version, reason: error.message }, 'this version cannot be stamped: its buyers get it unstamped')
          await runner.run(db.updateTable('content_versions').set({ stamp_problem: error.message })
            .where('content_id', '=', job.content_id).where('version', '=', job.version))
          return
        }
        const kept = await keep(files, { kind: 'pdf', path: output }, Number.MAX_SAFE_INTEGER)
        await recordOnce(files, kept.key, async () => (await runner.run(db.insertInto('stamped_copies').values({
          order_id: order.id, content_id: job.content_id, version: job.version, copy_id: copyId, key: kept.key, size: kept.size
        }).onConflict((oc) => oc.columns(['order_id', 'content_id', 'version']).doNothing()))).changes)
      })
    })
  }

  const handlers = { render, sample, stamp } as const
  return {
    /** Runs a claimed job; throws what went wrong (the runner retries, then gives up). */
    async run (job: PdfJob): Promise<void> {
      await handlers[job.kind](job)
    }
  }
}

export type Work = ReturnType<typeof createWork>
