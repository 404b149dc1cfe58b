// The PDF engine's door: a small bounded pool of worker threads (piscina) that does everything
// that reads or writes PDF bytes, so the event loop only passes file paths and gets facts back.
// Each job has a deadline and each thread a memory ceiling: a file that makes a job hang, crash
// or run out of memory costs that job alone (piscina replaces the thread), never the process.
import { availableParallelism } from 'node:os'
import { Piscina } from 'piscina'
import { DomainError } from '../../lib/errors.js'
import type { Task } from './engine/worker.js'
import type { FoundStamp } from './engine/read-stamp.js'
import type { RenderedPages } from './engine/render.js'
import type { StampMarks } from './engine/stamp.js'
import type { Inspection } from './engine/inspect.js'

export type { PdfFacts, Inspection } from './engine/inspect.js'
export type { RenderedPages } from './engine/render.js'
export type { StampMarks } from './engine/stamp.js'
export type { FoundStamp } from './engine/read-stamp.js'

export interface PdfPool {
  inspect(input: string): Promise<Inspection>
  render(input: string, options: { pages: number, width: number }): Promise<RenderedPages>
  sample(input: string, output: string, options: { pages: number }): Promise<{ pages: number }>
  stamp(input: string, output: string, marks: StampMarks): Promise<{ bytes: number }>
  readStamp(input: string): Promise<FoundStamp>
  /** Jobs running or queued now (for metrics / the bench). */
  readonly busy: number
  close(): Promise<void>
}

export interface PdfPoolOptions {
  /** Worker threads; default max(1, min(2, cores - 1)): the server keeps a core. */
  threads?: number
  /** Deadline of a render, sample, stamp or readStamp job, queueing included (default 120 s). */
  timeoutMs?: number
  /** Deadline of an inspect job (default 30 s, or timeoutMs when that is smaller). */
  inspectTimeoutMs?: number
  /** Each thread's JavaScript heap ceiling (default 1,024 MB). File bytes live outside it. */
  maxMemoryMb?: number
}

const FAILURE: Record<Task['op'], string> = {
  inspect: 'This PDF could not be read in reasonable time and memory: export it again from the program that made it and upload the new file.',
  render: 'The pages of this PDF could not be drawn in reasonable time and memory.',
  sample: 'A sample could not be cut from this PDF: export it again from the program that made it and upload the new file.',
  stamp: 'This PDF could not be stamped in reasonable time and memory.',
  readStamp: 'This file could not be read in reasonable time and memory to look for a stamp.',
  fault: 'This job could not finish in reasonable time and memory.'
}

const isCopyId = (value: string): boolean => /^[0-9a-f]{32}$/.test(value)
const isOrderId = (value: string): boolean => /^[A-Za-z0-9_-]{1,100}$/.test(value)

export class PdfWorkerPool implements PdfPool {
  readonly #piscina: Piscina
  readonly #timeoutMs: number
  readonly #inspectTimeoutMs: number
  #busy = 0

  constructor (options: PdfPoolOptions = {}) {
    const threads = options.threads ?? Math.max(1, Math.min(2, availableParallelism() - 1))
    this.#timeoutMs = options.timeoutMs ?? 120_000
    this.#inspectTimeoutMs = options.inspectTimeoutMs ?? Math.min(30_000, this.#timeoutMs)
    // Under tsx (tests, `npm run dev`) this module is pool.ts and the worker is worker.ts, loaded
    // by the --import=tsx the threads inherit; compiled, both are .js in dist/.
    const extension = import.meta.url.endsWith('.ts') ? 'ts' : 'js'
    this.#piscina = new Piscina({
      filename: new URL(`./engine/worker.${extension}`, import.meta.url).href,
      minThreads: 0,
      maxThreads: threads,
      // Threads hold pdf.js and pdf-lib (tens of MB each): let an idle pool shrink to none.
      idleTimeout: 30_000,
      concurrentTasksPerWorker: 1,
      resourceLimits: { maxOldGenerationSizeMb: options.maxMemoryMb ?? 1024, maxYoungGenerationSizeMb: 64 }
    })
  }

  get busy (): number { return this.#busy }

  /**
   * Always a verdict on the file, except past the deadline: a thread that died on it (pdf.js
   * rejecting a promise nobody awaited on a damaged file, its memory ceiling) says the file
   * cannot be read; a deadline stays an error, as a busy server is not the file's fault.
   */
  async inspect (input: string): Promise<Inspection> {
    try {
      return await this.#run({ op: 'inspect', input }, this.#inspectTimeoutMs) as Inspection
    } catch (error) {
      if (error instanceof DomainError && (error.cause as Error | undefined)?.name !== 'AbortError') return { ok: false, reason: error.message }
      throw error
    }
  }

  async render (input: string, options: { pages: number, width: number }): Promise<RenderedPages> {
    return await this.#run({ op: 'render', input, pages: options.pages, width: options.width }) as RenderedPages
  }

  async sample (input: string, output: string, options: { pages: number }): Promise<{ pages: number }> {
    return await this.#run({ op: 'sample', input, output, pages: options.pages }) as { pages: number }
  }

  async stamp (input: string, output: string, marks: StampMarks, options: { incremental?: boolean } = {}): Promise<{ bytes: number }> {
    if (!isCopyId(marks.copyId) || !isOrderId(marks.orderId)) throw new TypeError('stamp: copyId must be 32 hex digits and orderId letters, digits, - or _')
    return await this.#run({ op: 'stamp', input, output, marks: { line: marks.line, orderId: marks.orderId, copyId: marks.copyId }, incremental: options.incremental }) as { bytes: number }
  }

  async readStamp (input: string): Promise<FoundStamp> {
    return await this.#run({ op: 'readStamp', input }) as FoundStamp
  }

  /** For tests: a job that makes its thread exit, hang, run out of memory or throw. */
  async fault (kind: 'exit' | 'hang' | 'oom' | 'throw', timeoutMs?: number): Promise<unknown> {
    return await this.#run({ op: 'fault', kind }, timeoutMs)
  }

  async close (): Promise<void> {
    await this.#piscina.destroy()
  }

  async #run (task: Task, timeoutMs = this.#timeoutMs): Promise<unknown> {
    this.#busy++
    try {
      return await this.#piscina.run(task, { signal: AbortSignal.timeout(timeoutMs) })
    } catch (error) {
      // Whatever went wrong in the thread (a deadline, its memory ceiling, a crash, a file the
      // libraries choke on) is a property of the file, said in one sentence; the thread is
      // replaced by piscina and the next job runs as usual.
      const failure = new DomainError('invalid', FAILURE[task.op])
      failure.cause = error
      throw failure
    } finally {
      this.#busy--
    }
  }
}

export function createPdfPool (options?: PdfPoolOptions): PdfPool {
  return new PdfWorkerPool(options)
}
