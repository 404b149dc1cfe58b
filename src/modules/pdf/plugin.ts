import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import { createJobQueue } from './jobs.js'
import { createPdfPool, type PdfPool } from './pool.js'
import { createJobRunner } from './runner.js'
import { createPdfService, type PdfService } from './service.js'
import { createTracer, type Trace } from './trace.js'
import { createWork } from './work.js'

export type { Inspection, PdfFacts, PdfPool } from './pool.js'
export { DEFAULT_PREVIEW_PAGES, MAX_PREVIEW_PAGES, MAX_SAMPLE_PAGES, type PdfService, type SentFile, type Wait } from './service.js'
export type { Trace } from './trace.js'
/** The page images and the sample (site context), and the trace form (under /admin, behind its guard). */
export { adminPdfRoutes, pdfRoutes } from './routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The PDF module: what a PDF is, its page images and sample, each buyer's stamped copy, tracing a copy. */
    pdf: PdfService & { trace: (path: string) => Promise<Trace | undefined> }
  }
}

/**
 * Reading, rendering, cutting and stamping PDFs, off the event loop: a small pool of worker
 * threads (pool.ts) does the PDF work; jobs in the database (jobs.ts) say what to make, and
 * every instance's runner claims them (a lease), so a job runs once across instances and again
 * after a crash.
 */
export default fp<{ pool?: PdfPool, background?: boolean }>(async function pdf (app, options) {
  const { config, database, files } = app
  const { db, runner } = database
  const pool = options.pool ?? createPdfPool()
  const queue = createJobQueue({ db, runner })
  const work = createWork({ db, runner, files, pool, log: app.log, maxUploadBytes: config.maxUploadBytes })
  // This instance (host and port: a restart on the same port frees what a crashed run held) and this run of it.
  const instance = `${hostname()}:${config.port}`
  const holder = `${instance}/${process.pid}.${randomBytes(4).toString('hex')}`
  const jobs = createJobRunner({ queue, work, holder, concurrency: 2, log: app.log, background: options.background })
  const service = createPdfService({ db, runner, files, pool, queue, kick: jobs.kick, demand: jobs.demand })
  app.decorate('pdf', { ...service, trace: createTracer({ db, runner, pool }) })

  app.addHook('onReady', async () => { jobs.kick() })
  // Listening on the port proves an earlier run on it is gone: the jobs it held run now rather
  // than when their lease runs out.
  app.addHook('onListen', async () => {
    if (config.port === 0) return
    const released = await queue.releaseClaimsOf(instance, holder)
    if (released > 0) {
      app.log.info({ released }, 'PDF jobs an earlier run of this instance was running when it stopped: running now')
      jobs.kick()
    }
  })
  // The jobs under way finish before the database closes; then the worker threads go.
  app.addHook('onClose', async () => {
    await jobs.stop()
    if (options.pool === undefined) await pool.close()
  })
}, { name: 'pdf', dependencies: ['database', 'files'] })
