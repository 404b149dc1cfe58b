import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import fp from 'fastify-plugin'
import type { SweepResult } from './store.js'
import { createSweep, SWEEP_INTERVAL_MS } from './sweep.js'

export interface Sweeper {
  /** Sweeps now (as the timer does), unless another instance is: what it did, or 'busy'. */
  run(): Promise<SweepResult | 'busy'>
}

declare module 'fastify' {
  interface FastifyInstance {
    sweep: Sweeper
  }
}

/**
 * Files a crash left unaccounted for (an upload put into place whose row was never committed)
 * are moved to the quarantine at start and then every hour, by one instance at a time (a lease
 * in the database): a leftover too young to be judged at start-up (it could be another
 * instance's upload about to commit) is dealt with by a later sweep, not at the next restart.
 */
export default fp<{ intervalMs?: number }>(async function sweep (app, options) {
  const { database, files, items, pdf, log } = app
  const service = createSweep({
    db: database.db,
    runner: database.runner,
    files,
    // Every version's file counts, not only the latest: earlier ones are still downloaded.
    // And what the PDF module made from them: page images, samples, buyers' stamped copies.
    referenced: async () => new Set([...(await items.referencedKeys()).keys(), ...await pdf.madeKeys()]),
    holder: `${hostname()}/${process.pid}.${randomBytes(4).toString('hex')}`
  })

  async function run (): Promise<SweepResult | 'busy'> {
    const found = await service.run()
    if (found === 'busy') {
      log.info('another instance is sweeping the content store; this one sweeps at its next turn')
      return found
    }
    if (found.quarantined.length > 0) {
      log.warn({ files: found.quarantined, folder: files.quarantineLocation }, 'moved stored files that no row refers to (uploads cut off by a crash) into quarantine')
    }
    if (found.left.length > 0) {
      log.warn({ files: found.left }, 'stored files that no row refers to were left in place: too recent (an upload may still be committing) or too old to be a crash\'s leftover')
    }
    return found
  }

  await run()

  let running: Promise<unknown> | null = null
  const timer = setInterval(() => {
    if (running !== null) return
    running = run()
      .catch((error: unknown) => { log.error({ err: error }, 'the content store sweep failed; it is tried again at the next turn') })
      .finally(() => { running = null })
  }, options.intervalMs ?? SWEEP_INTERVAL_MS)
  timer.unref()
  app.addHook('onClose', async () => {
    clearInterval(timer)
    // A sweep under way finishes before the database and the store close.
    await running
  })

  app.decorate<Sweeper>('sweep', { run })
}, { name: 'sweep', dependencies: ['database', 'files', 'items', 'pdf'] })
