import { type ExpressionBuilder, type Kysely, sql } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, PdfJob, PdfJobKind } from '../../db/types.js'

/** After this many failed attempts a job is given up (marked failed): its file is at fault, not the moment. */
export const MAX_ATTEMPTS = 3
/** How long after a failure a job is tried again. */
export const RETRY_MS = 10_000

/** A job to run: what it makes, from which version, for which order (a stamp). */
export interface JobRequest {
  kind: PdfJobKind
  content_id: number
  version: number
  order_id?: string | null
  /** render and sample: how many pages. */
  pages?: number
}

/** One job per thing made: two requests for the same copy or the same pages are one job. */
export function jobKey (job: JobRequest): string {
  // A bundle's order stamps a copy of each of its items: the item is part of the key.
  if (job.kind === 'stamp') return `stamp:${job.order_id ?? ''}:${job.content_id}:${job.version}`
  return `${job.kind}:${job.content_id}:${job.version}:${job.pages ?? 0}`
}

const iso = (date: Date): string => date.toISOString()

/**
 * The PDF jobs' rows (table pdf_jobs, see migrations/0017-pdf.ts): added in the transaction of
 * what caused them, claimed by one instance's runner for a lease, then marked done or failed.
 * Every function runs only queries, so `add` joins a caller's transaction.
 */
export function createJobQueue ({ db, runner }: { db: Kysely<Database>, runner: Runner }) {
  const lapsed = (now: Date) => (eb: ExpressionBuilder<Database, 'pdf_jobs'>) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', iso(now))])

  return {
    /** Adds the job unless one with its key exists (whatever its state); returns the key. */
    async add (job: JobRequest): Promise<string> {
      const key = jobKey(job)
      await runner.run(db.insertInto('pdf_jobs').values({
        job_key: key,
        kind: job.kind,
        content_id: job.content_id,
        version: job.version,
        order_id: job.order_id ?? null,
        pages: job.pages ?? 0
      }).onConflict((oc) => oc.column('job_key').doNothing()))
      return key
    },

    /**
     * Takes the oldest pending job nobody holds (or whose holder's lease ran out) for `holder`
     * until now + leaseMs. The UPDATE repeats the condition, so of two instances racing for a
     * job one changes the row and the other tries the next.
     */
    async claim (holder: string, leaseMs: number, now = new Date()): Promise<PdfJob | undefined> {
      const until = iso(new Date(now.getTime() + leaseMs))
      for (let tries = 0; tries < 5; tries++) {
        const candidate = await runner.first(db.selectFrom('pdf_jobs').select('id')
          .where('status', '=', 'pending').where(lapsed(now)).orderBy('id').limit(1))
        if (candidate === undefined) return undefined
        const claimed = await runner.first(db.updateTable('pdf_jobs')
          .set((eb) => ({ claimed_by: holder, claimed_until: until, attempts: eb('attempts', '+', 1) }))
          .where('id', '=', candidate.id).where('status', '=', 'pending').where(lapsed(now))
          .returningAll())
        if (claimed !== undefined) return claimed
      }
      return undefined
    },

    /** The job made what it makes (its row is written by then). */
    async done (id: number, holder: string, now = new Date()): Promise<void> {
      await runner.run(db.updateTable('pdf_jobs').set({ status: 'done', done_at: iso(now), claimed_by: null, claimed_until: null, last_error: null })
        .where('id', '=', id).where('claimed_by', '=', holder))
    },

    /** A failed attempt: tried again after RETRY_MS, or given up after MAX_ATTEMPTS. */
    async failed (job: PdfJob, holder: string, error: string, now = new Date()): Promise<'retry' | 'failed'> {
      const final = job.attempts >= MAX_ATTEMPTS
      await runner.run(db.updateTable('pdf_jobs').set({
        status: final ? 'failed' : 'pending',
        last_error: error.slice(0, 500),
        claimed_by: null,
        // Not before RETRY_MS: a lapsed claim is what makes a job claimable.
        claimed_until: final ? null : iso(new Date(now.getTime() + RETRY_MS)),
        done_at: final ? iso(now) : null
      }).where('id', '=', job.id).where('claimed_by', '=', holder))
      return final ? 'failed' : 'retry'
    },

    /** A job's state by its key, for a request waiting on it. */
    async state (key: string): Promise<PdfJob['status'] | undefined> {
      return (await runner.first(db.selectFrom('pdf_jobs').select('status').where('job_key', '=', key)))?.status
    },

    /** Jobs this instance's earlier run held when it stopped: claimable again at once. */
    async releaseClaimsOf (instance: string, except: string): Promise<number> {
      return (await runner.run(db.updateTable('pdf_jobs').set({ claimed_by: null, claimed_until: null })
        .where('status', '=', 'pending').where(sql<string>`substr(claimed_by, 1, ${sql.lit(instance.length + 1)})`, '=', `${instance}/`).where('claimed_by', '!=', except))).changes
    }
  }
}

export type JobQueue = ReturnType<typeof createJobQueue>
