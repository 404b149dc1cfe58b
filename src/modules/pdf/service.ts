import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, PdfAsset } from '../../db/types.js'
import type { PendingFile, Store } from '../../storage/store.js'
import { withLocalCopy } from './files.js'
import { type JobQueue, jobKey, type JobRequest } from './jobs.js'
import type { Inspection, PdfPool } from './pool.js'

/** How long a request waits for a job it needs (a page image, a sample, a buyer's first copy). */
export const WAIT_MS = 60_000
const WAIT_STEP_MS = 100

/** Page images shown: 0 to this many. */
export const MAX_PREVIEW_PAGES = 10
export const DEFAULT_PREVIEW_PAGES = 3
/** A sample of up to this many pages. */
export const MAX_SAMPLE_PAGES = 100

/** A version the engine could not read: no page count, and why (see versionFacts in src/modules/items/uploads.ts). */
export const unreadable = (version: { page_count: number | null, stamp_problem: string | null }): boolean =>
  version.page_count === null && version.stamp_problem !== null

/** A file to send in place of the version's own: a stamped copy. */
export interface SentFile { key: string, size: number }

/** What a request waiting on a job learns: the thing made, or why not. */
export type Wait<T> = { ok: true, value: T } | { ok: false, why: 'failed' | 'timeout' }

/**
 * The PDF module's services for the rest of the app: what an upload's PDF is, the jobs a new
 * version needs, the page images and the sample as requests ask for them, a buyer's copy.
 */
export function createPdfService (deps: { db: Kysely<Database>, runner: Runner, files: Store, pool: PdfPool, queue: JobQueue, kick: () => void, demand: () => void }) {
  const { db, runner, files, pool, queue, kick, demand } = deps
  const waitFor = createWaiter(queue, demand)

  async function latest (contentId: number): Promise<{ version: number, page_count: number | null, stamp_problem: string | null } | undefined> {
    return await runner.first(db.selectFrom('content_versions').select(['version', 'page_count', 'stamp_problem'])
      .where('content_id', '=', contentId).orderBy('version', 'desc').limit(1))
  }

  async function asset (contentId: number, version: number, kind: PdfAsset['kind'], n: number): Promise<PdfAsset | undefined> {
    return await runner.first(db.selectFrom('pdf_assets').selectAll()
      .where('content_id', '=', contentId).where('version', '=', version).where('kind', '=', kind).where('n', '=', n))
  }

  /** The render and sample jobs of an item's latest version, as its settings ask (in the caller's transaction). */
  async function queueFor (content: Pick<Content, 'id' | 'preview_pages' | 'sample_pages'>, version: number, pageCount: number | null): Promise<void> {
    const row = await runner.first(db.selectFrom('content_versions').select(['page_count', 'stamp_problem']).where('content_id', '=', content.id).where('version', '=', version))
    // Nothing is made from a PDF the engine could not read.
    if (row === undefined || unreadable(row)) return
    const clamp = (pages: number): number => pageCount === null ? pages : Math.min(pages, pageCount)
    if (content.preview_pages > 0) await queue.add({ kind: 'render', content_id: content.id, version, pages: clamp(content.preview_pages) })
    if (content.sample_pages > 0) await queue.add({ kind: 'sample', content_id: content.id, version, pages: clamp(content.sample_pages) })
  }

  return {
    pool,
    queueFor,
    ...createCopies(deps, waitFor),

    /** What an uploaded PDF is (pages, title, author, whether it can be stamped), or why it is refused. */
    async inspect (file: PendingFile): Promise<Inspection> {
      return await withLocalCopy(files, file, async (path) => await pool.inspect(path))
    },

    /** Called after a new version's transaction: runners look at once. */
    kick,

    /** The page numbers of the latest version's images that are ready, for the item page's strip. */
    async strip (content: Content): Promise<number[]> {
      if (content.preview_pages === 0) return []
      const current = await latest(content.id)
      if (current === undefined) return []
      const rows = await runner.all(db.selectFrom('pdf_assets').select('n')
        .where('content_id', '=', content.id).where('version', '=', current.version).where('kind', '=', 'page')
        .where('n', '<=', content.preview_pages).orderBy('n'))
      return rows.map((row) => row.n)
    },

    /** Page n's image of the latest version (made now if it is not yet); undefined beyond the pages shown. */
    async page (content: Content, n: number): Promise<Wait<PdfAsset> | undefined> {
      const current = await latest(content.id)
      const shown = Math.min(content.preview_pages, current?.page_count ?? content.preview_pages)
      if (current === undefined || unreadable(current) || n < 1 || n > shown) return undefined
      const ready = await asset(content.id, current.version, 'page', n)
      if (ready !== undefined) return { ok: true, value: ready }
      return await waitFor({ kind: 'render', content_id: content.id, version: current.version, pages: shown },
        async () => await asset(content.id, current.version, 'page', n))
    },

    /** The latest version's sample (made now if it is not yet); undefined when the item has none. */
    async sample (content: Content): Promise<Wait<PdfAsset> | undefined> {
      const current = await latest(content.id)
      if (current === undefined || unreadable(current) || content.sample_pages === 0) return undefined
      const pages = Math.min(content.sample_pages, current.page_count ?? content.sample_pages)
      return await waitFor({ kind: 'sample', content_id: content.id, version: current.version, pages },
        async () => await asset(content.id, current.version, 'sample', pages))
    },

    jobKey,

    /** Every stored file this module made (the store's sweep keeps them). */
    async madeKeys (): Promise<string[]> {
      const assets = await runner.all(db.selectFrom('pdf_assets').select('key'))
      const copies = await runner.all(db.selectFrom('stamped_copies').select('key'))
      return [...assets, ...copies].map((row) => row.key)
    }
  }
}

export type PdfService = ReturnType<typeof createPdfService>

/** A request's wait for a job's result (see waitFor inside). */
function createWaiter (queue: JobQueue, demand: () => void) {
  /**
   * Adds the job (unless there is one), has a runner look at once, and waits until `found` finds
   * what it makes or the job ends without it. Whichever instance claims it runs it: two requests
   * for the same thing wait on one job.
   */
  return async function waitFor<T> (job: JobRequest, found: () => Promise<T | undefined>, waitMs = WAIT_MS): Promise<Wait<T>> {
    const key = await queue.add(job)
    const until = Date.now() + waitMs
    for (;;) {
      demand()
      const value = await found()
      if (value !== undefined) return { ok: true, value }
      const state = await queue.state(key)
      if (state !== 'pending') {
        // Done (or failed) just after the look above: one more look decides.
        const last = await found()
        return last !== undefined ? { ok: true, value: last } : { ok: false, why: 'failed' }
      }
      if (Date.now() >= until) return { ok: false, why: 'timeout' }
      await new Promise((resolve) => setTimeout(resolve, WAIT_STEP_MS))
    }
  }
}

/** Buyers' stamped copies, as the download routes ask for them. */
function createCopies ({ db, runner }: { db: Kysely<Database>, runner: Runner }, waitFor: ReturnType<typeof createWaiter>) {
  return {
    /**
     * The buyer's own copy of a version: the stored one, or made now (by whichever instance
     * claims the job; two downloads at once wait on one job). Undefined when the version cannot
     * be stamped: the buyer gets the file as uploaded.
     */
    async copy (content: Content, version: number, orderId: string): Promise<Wait<SentFile> | undefined> {
      const stored = async (): Promise<SentFile | undefined> => await runner.first(db.selectFrom('stamped_copies').select(['key', 'size'])
        .where('order_id', '=', orderId).where('content_id', '=', content.id).where('version', '=', version))
      const ready = await stored()
      if (ready !== undefined) return { ok: true, value: ready }
      const problem = await runner.first(db.selectFrom('content_versions').select('stamp_problem')
        .where('content_id', '=', content.id).where('version', '=', version))
      if (problem === undefined || problem.stamp_problem !== null) return undefined
      const made = await waitFor({ kind: 'stamp', content_id: content.id, version, order_id: orderId }, stored)
      if (made.ok || made.why === 'timeout') return made
      // The job ended without a copy: the version turned out unstampable (flagged) or the job gave up.
      return undefined
    }
  }
}
