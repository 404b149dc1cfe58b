import type { Runner } from './runner.js'

/**
 * Group commit. A commit is the dearest part of a small write (BEGIN IMMEDIATE, WAL append,
 * COMMIT; on PostgreSQL a round trip per statement); items that arrive while the previous batch
 * commits (or in the same turn of the event loop) are applied in one transaction, so every item
 * is still recorded together with its effect. Nothing is answered before the commit that holds it.
 *
 * Items rarely fail, so a batch is first applied without savepoints (each costs two statements,
 * on PostgreSQL two round trips, per item). If one item fails, that whole attempt is rolled back
 * and the batch is applied again with each item in its own savepoint (`runner.transaction`
 * nested), so the failing item undoes only itself and the others commit: the same outcome as
 * savepoints from the start.
 *
 * One batch at a time per instance, its items in `order`: on PostgreSQL two batches of one
 * instance never wait for each other's locks. Another instance's batch still can, and a cycle of
 * waits is broken by PostgreSQL ending one statement with a deadlock error. A savepoint's
 * rollback keeps the locks of the items before it, so the whole batch is rolled back and applied
 * again, releasing everything it held.
 */
export interface GroupCommit<I, R> {
  /** Applies one item inside the batch's transaction (no transaction of its own). */
  apply: (item: I) => Promise<R>
  /** The order the items of a batch are applied in. */
  order: (a: I, b: I) => number
  /**
   * Keys of what the item touches: items whose keys do not meet may be applied side by side
   * (runner.parallel); null: the item runs alone.
   */
  independence: (item: I) => string[] | null
}

interface Queued<I, R> { item: I, resolve: (result: R) => void, reject: (error: unknown) => void }
type Result<R> = { ok: true, value: R } | { ok: false, error: unknown }

const BATCH_ATTEMPTS = 5

/**
 * PostgreSQL ended a statement to break a deadlock (40P01) or a serialization conflict
 * (40001): its transaction, rolled back and done again, succeeds.
 */
export function retryable (error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return code === '40P01' || code === '40001'
}

/**
 * The batch in runs of consecutive items that are independent of each other: no two share a
 * key (see `independence`), and an item without keys runs alone.
 */
function runs<I, R> (batch: Array<Queued<I, R>>, independence: (item: I) => string[] | null): Array<Array<Queued<I, R>>> {
  const result: Array<Array<Queued<I, R>>> = []
  let current: Array<Queued<I, R>> = []
  let taken = new Set<string>()
  for (const queued of batch) {
    const keys = independence(queued.item)
    if (keys === null || keys.some((key) => taken.has(key))) {
      if (current.length > 0) result.push(current)
      current = []
      taken = new Set()
    }
    current.push(queued)
    if (keys === null) {
      result.push(current)
      current = []
    } else {
      for (const key of keys) taken.add(key)
    }
  }
  if (current.length > 0) result.push(current)
  return result
}

/**
 * Every item in one transaction, no savepoints: any failure rolls back the whole attempt. The
 * items of a run are applied side by side (runner.parallel: on PostgreSQL their statements
 * share the round trips), the runs one after another.
 */
async function applyTogether<I, R> (runner: Runner, spec: GroupCommit<I, R>, batch: Array<Queued<I, R>>): Promise<Array<Result<R>>> {
  return await runner.transaction(async () => {
    const results: Array<Result<R>> = []
    for (const run of runs(batch, spec.independence)) {
      if (run.length === 1) {
        results.push({ ok: true, value: await spec.apply(run[0]!.item) })
        continue
      }
      const settled = await runner.parallel(run.map((queued) => async () => await spec.apply(queued.item)))
      const failed = settled.filter((result): result is PromiseRejectedResult => result.status === 'rejected')
      // A deadlock first: the batch is then tried again as it was.
      if (failed.length > 0) throw (failed.find((result) => retryable(result.reason)) ?? failed[0]!).reason
      for (const result of settled) results.push({ ok: true, value: (result as PromiseFulfilledResult<R>).value })
    }
    return results
  })
}

/** Each item in its own savepoint: a failing one undoes only itself. */
async function applyApart<I, R> (runner: Runner, spec: GroupCommit<I, R>, batch: Array<Queued<I, R>>, lastAttempt: boolean): Promise<Array<Result<R>>> {
  return await runner.transaction(async () => {
    const results: Array<Result<R>> = []
    for (const queued of batch) {
      try {
        results.push({ ok: true, value: await runner.transaction(async () => await spec.apply(queued.item)) })
      } catch (error) {
        if (!lastAttempt && retryable(error)) throw error
        results.push({ ok: false, error })
      }
    }
    return results
  })
}

/** One batch, committed: each item's result, or the commit's error for all of them. */
async function applyBatch<I, R> (runner: Runner, spec: GroupCommit<I, R>, batch: Array<Queued<I, R>>): Promise<Array<Result<R>>> {
  let together = true
  for (let attempt = 1; ; attempt++) {
    try {
      return together ? await applyTogether(runner, spec, batch) : await applyApart(runner, spec, batch, attempt === BATCH_ATTEMPTS)
    } catch (error) {
      // The one item failed and its transaction was rolled back: undone, as its savepoint would be.
      if (together && batch.length === 1 && !retryable(error)) return [{ ok: false, error }]
      // The commit itself failed: nothing of the batch is stored, every sender will retry.
      if (attempt >= BATCH_ATTEMPTS) return batch.map(() => ({ ok: false, error }))
      // Apart for a moment, so the two batches do not meet again in the same step.
      if (retryable(error)) await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt))
      // An item failed (or the commit did): once more with each item in its own savepoint. A
      // deadlock is tried again as it was, except that the last attempt is always apart.
      together = together && retryable(error) && attempt + 1 < BATCH_ATTEMPTS
    }
  }
}

/**
 * A function that applies one item in a shared transaction with the items queued in the same
 * turn of the event loop (or while the previous batch commits), and answers after that commit.
 */
export function groupCommit<I, R> (runner: Runner, spec: GroupCommit<I, R>): (item: I) => Promise<R> {
  let queue: Array<Queued<I, R>> = []
  let draining = false

  async function drain (): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.sort((a, b) => spec.order(a.item, b.item))
        queue = []
        const results = await applyBatch(runner, spec, batch)
        batch.forEach((queued, index) => {
          const result = results[index]!
          if (result.ok) queued.resolve(result.value)
          else queued.reject(result.error)
        })
      }
    } finally {
      draining = false
    }
  }

  return async (item) => await new Promise((resolve, reject) => {
    queue.push({ item, resolve, reject })
    if (draining) return
    draining = true
    setImmediate(() => { drain().catch(reject) })
  })
}
