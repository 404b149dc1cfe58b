import type { FastifyBaseLogger } from 'fastify'
import type { PdfJob } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import type { JobQueue } from './jobs.js'
import type { Work } from './work.js'

/** How often an idle runner looks for jobs other instances added. */
export const POLL_MS = 1_000
/**
 * How long an instance holds a job it runs: longer than any job takes (the engine gives up on a
 * job after its timeout), so no other instance runs it meanwhile; a crashed instance's job is
 * run by another (or by its restart) once this runs out.
 */
export const JOB_LEASE_MS = 5 * 60_000

/**
 * Runs the PDF jobs of every instance, at most `concurrency` at a time on this one (the engine's
 * worker threads): a job is claimed (a lease), run, then marked done or failed. Looks for work
 * when kicked (a job added here) and every POLL_MS (a job added by another instance). With
 * `background` off (the test harness's default, so a test's store holds only what it made) jobs
 * run only when a request waits for one.
 */
export function createJobRunner (deps: { queue: JobQueue, work: Work, holder: string, concurrency: number, log: FastifyBaseLogger, background?: boolean }) {
  const { queue, work, holder, concurrency, log } = deps
  const background = deps.background ?? true
  const running = new Set<Promise<void>>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false
  let looking = false
  let again = false

  async function runOne (job: PdfJob): Promise<void> {
    const started = Date.now()
    try {
      await work.run(job)
      await queue.done(job.id, holder)
      log.info({ jobId: job.id, kind: job.kind, contentId: job.content_id, version: job.version, ms: Date.now() - started }, 'PDF job done')
    } catch (error) {
      // A DomainError says what is wrong with the file; anything else is logged whole (no secrets: a path at most).
      const message = error instanceof Error ? error.message : String(error)
      const outcome = await queue.failed(job, holder, message).catch(() => 'lease' as const)
      const level = outcome === 'failed' ? 'error' : 'warn'
      log[level]({ jobId: job.id, kind: job.kind, contentId: job.content_id, version: job.version, attempts: job.attempts, outcome, ...(error instanceof DomainError ? { reason: message } : { err: error }) }, 'PDF job failed')
    }
  }

  async function look (): Promise<void> {
    while (running.size < concurrency) {
      if (stopped) return
      again = false
      const job = await queue.claim(holder, JOB_LEASE_MS)
      if (job === undefined) {
        if (again) continue
        return
      }
      const run = runOne(job).finally(() => {
        running.delete(run)
        kick()
      })
      running.add(run)
    }
  }

  function schedule (): void {
    if (stopped || !background) return
    clearTimeout(timer)
    timer = setTimeout(kick, POLL_MS)
    timer.unref()
  }

  /** Look for jobs now (one was added, or one finished) rather than at the next poll. */
  function kick (): void {
    if (background) demand()
  }

  /** Look for jobs now, also with background work off: a request waits for one. */
  function demand (): void {
    if (stopped) return
    if (looking) { again = true; return }
    looking = true
    look()
      .catch((error: unknown) => { log.error({ err: error }, 'the PDF job runner could not look for jobs; it tries again shortly') })
      .finally(() => { looking = false; schedule() })
  }

  return {
    kick,
    demand,
    /** Jobs running on this instance now. */
    get active (): number { return running.size },
    /** Stops looking; the jobs under way finish first (their lease would otherwise hold them). */
    async stop (): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await Promise.allSettled([...running])
    }
  }
}

export type JobRunner = ReturnType<typeof createJobRunner>
