import type { Compilable } from 'kysely'

/**
 * How the services run the queries they build with Kysely, on SQLite (better-sqlite3) or on
 * PostgreSQL (pg), with the same guarantees on both:
 *
 * - `transaction(fn)` runs fn in one transaction: BEGIN IMMEDIATE on SQLite (one writer at a
 *   time), BEGIN on PostgreSQL (READ COMMITTED: the exactly-once writes rely on conditional
 *   `UPDATE ... WHERE status = 'pending'` and `INSERT ... ON CONFLICT DO NOTHING`, which block on
 *   a concurrent writer's row and then see its commit). It commits when fn resolves and rolls
 *   back when it throws.
 * - A `transaction` called while one is open in the same async context (AsyncLocalStorage) is a
 *   SAVEPOINT inside it: a failing nested part undoes only itself (webhook group commit).
 * - `first`, `all` and `run` called inside a transaction's async context run on that
 *   transaction's connection; outside one, on their own (SQLite: after any open transaction of
 *   another context has finished, so nobody reads another's uncommitted rows on the one
 *   connection).
 * - Nothing but queries may be awaited inside a transaction (no network call to Stripe, no file
 *   I/O): a transaction holds SQLite's only connection, or a PostgreSQL connection and row locks.
 */
export interface Runner {
  all<R>(query: Compilable<R>): Promise<R[]>
  first<R>(query: Compilable<R>): Promise<R | undefined>
  run(query: Compilable<unknown>): Promise<{ changes: number }>
  transaction<T>(fn: () => Promise<T>): Promise<T>
  /**
   * Inside an open transaction: runs the fns side by side and settles each, results in order.
   * On PostgreSQL their statements are pipelined on the transaction's connection (each sent
   * without waiting for the others' answers, executed in the order sent), so n short pieces of
   * work cost about the round trips of one; on SQLite they run one after another. The caller
   * makes sure they do not depend on each other's writes. None may open a nested transaction
   * (its savepoint would take in the others' statements): that call rejects.
   */
  parallel<T>(fns: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>>
  /** 'sqlite' or 'postgres': for the few queries that differ (search, pragmas). */
  readonly dialect: 'sqlite' | 'postgres'
}

/** What runner.transaction() inside runner.parallel() rejects with. */
export const PARALLEL_NESTING = 'runner.transaction() inside runner.parallel(): a savepoint would take in the other parts\' statements'
