import type { Compilable, CompiledQuery } from 'kysely'

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

/**
 * A query of fixed shape built and compiled once, for the hot paths (building and compiling a
 * Kysely query costs more than running it on SQLite): `build` is called once with a placeholder
 * in place of each argument, and every later query only puts its arguments where the
 * placeholders are in the compiled parameters. The same SQL text each time (SQLite's statement
 * cache, PostgreSQL's prepared statements). Only for queries whose SQL does not depend on the
 * arguments' values: each argument must land in exactly one or more parameters (checked), and
 * none may choose the query's shape (`is null` for a null, a list's length).
 */
export function precompiled<A extends unknown[], R> (arity: A['length'], build: (...args: A) => Compilable<R>): (...args: A) => Compilable<R> {
  const marks = Array.from({ length: arity }, (_, index) => `\u0000precompiled ${index}\u0000`)
  let compiled: CompiledQuery<R> | undefined
  let from: number[] = []
  const once = (): CompiledQuery<R> => {
    if (compiled !== undefined) return compiled
    const made = build(...(marks as unknown as A)).compile()
    from = made.parameters.map((parameter) => typeof parameter === 'string' ? marks.indexOf(parameter) : -1)
    if (marks.some((_, index) => !from.includes(index))) throw new Error(`precompiled: an argument is not a parameter of ${made.sql}`)
    compiled = made
    return made
  }
  return (...args) => ({
    compile: () => {
      const made = once()
      return { ...made, parameters: made.parameters.map((parameter, index) => from[index]! >= 0 ? args[from[index]!] : parameter) }
    }
  })
}
