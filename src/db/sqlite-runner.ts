import { AsyncLocalStorage } from 'node:async_hooks'
import type SQLite from 'better-sqlite3'
import type { Compilable } from 'kysely'
import { PARALLEL_NESTING, type Runner } from './runner.js'

interface Transaction { savepoints: number }
/**
 * What an async context knows: the transaction it runs in, and whether a nested transaction
 * of its level is under way (with those waiting for it). Nested transactions of one level run
 * one after the other: savepoints are a stack, and two begun side by side (a Promise.all)
 * would release each other.
 */
interface Scope { transaction: Transaction, nested: boolean, waiting: Array<() => void>, parallel?: true }
const scopeOf = (transaction: Transaction): Scope => ({ transaction, nested: false, waiting: [] })

/** The one connection, its prepared statements, and who holds it or waits for it. */
interface Connection {
  sqlite: SQLite.Database
  statements: Map<string, SQLite.Statement>
  context: AsyncLocalStorage<Scope>
  /** The transaction holding the connection, and whoever waits for it (transactions and queries). */
  open: Transaction | undefined
  busy: boolean
  waiting: Array<() => void>
}

/**
 * The Runner on the one better-sqlite3 connection. Statements run synchronously (prepared once,
 * cached); the promises only order them. A transaction holds the connection from BEGIN IMMEDIATE
 * to COMMIT: transactions of other async contexts wait their turn (a FIFO), and so do queries
 * outside any transaction, so nobody reads another's uncommitted rows. With nothing open a query
 * runs at once, without consulting the async context: the read path costs what it did when
 * everything was synchronous.
 */
export function sqliteRunner (sqlite: SQLite.Database): Runner {
  const c: Connection = { sqlite, statements: new Map(), context: new AsyncLocalStorage(), open: undefined, busy: false, waiting: [] }
  return {
    dialect: 'sqlite',
    // compile() inside query(): a query Kysely cannot compile rejects like any failing one.
    all<R>(compilable: Compilable<R>): Promise<R[]> {
      return query(c, () => {
        const { sql, parameters } = compilable.compile()
        const statement = prepare(c, sql)
        if (statement.reader) return statement.all(...parameters) as R[]
        statement.run(...parameters)
        return []
      })
    },
    first<R>(compilable: Compilable<R>): Promise<R | undefined> {
      return query(c, () => {
        const { sql, parameters } = compilable.compile()
        return prepare(c, sql).get(...parameters) as R | undefined
      })
    },
    run (compilable: Compilable<unknown>): Promise<{ changes: number }> {
      return query(c, () => {
        const { sql, parameters } = compilable.compile()
        return { changes: prepare(c, sql).run(...parameters).changes }
      })
    },
    // Handed on as they are (no async wrapper): a transaction costs no extra turn of the loop.
    parallel<T>(fns: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
      return parallel(c, fns)
    },
    transaction<T>(fn: () => Promise<T>): Promise<T> {
      return transaction(c, fn)
    }
  }
}

function prepare (c: Connection, sql: string): SQLite.Statement {
  let statement = c.statements.get(sql)
  if (statement === undefined) {
    statement = c.sqlite.prepare(sql)
    c.statements.set(sql, statement)
  }
  return statement
}

function exec (c: Connection, sql: string): void {
  prepare(c, sql).run()
}

async function acquire (c: Connection): Promise<void> {
  if (!c.busy) { c.busy = true; return }
  await new Promise<void>((resolve) => { c.waiting.push(resolve) })
}

function release (c: Connection): void {
  const next = c.waiting.shift()
  if (next !== undefined) { next(); return }
  c.busy = false
  // Nothing open or waiting: stop tracking async contexts (async_hooks cost every promise of
  // the process while a store is enabled); the next transaction enables it again.
  c.context.disable()
}

/** Inside the open transaction's own async context. */
const inOpen = (c: Connection): boolean => c.open !== undefined && c.context.getStore()?.transaction === c.open

// Not an async function: the common case (nothing open, or inside the open transaction) costs
// one resolved promise.
function query<R> (c: Connection, run: () => R): Promise<R> {
  if (!c.busy || inOpen(c)) {
    try {
      return Promise.resolve(run())
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return queued(c, run)
}

async function queued<R> (c: Connection, run: () => R): Promise<R> {
  await acquire(c)
  try {
    return run()
  } finally {
    release(c)
  }
}

async function transaction<T> (c: Connection, fn: () => Promise<T>): Promise<T> {
  if (inOpen(c)) {
    const scope = c.context.getStore()!
    if (scope.parallel === true) throw new Error(PARALLEL_NESTING)
    return await savepoint(c, scope, fn)
  }
  await acquire(c)
  const transaction: Transaction = { savepoints: 0 }
  try {
    exec(c, 'BEGIN IMMEDIATE')
  } catch (error) {
    release(c)
    throw error
  }
  c.open = transaction
  try {
    const result = await c.context.run(scopeOf(transaction), fn)
    exec(c, 'COMMIT')
    return result
  } catch (error) {
    // Some errors (SQLITE_FULL, an interrupted commit) have rolled back already.
    if (c.sqlite.inTransaction) exec(c, 'ROLLBACK')
    throw error
  } finally {
    c.open = undefined
    release(c)
  }
}

async function savepoint<T> (c: Connection, scope: Scope, fn: () => Promise<T>): Promise<T> {
  if (scope.nested) await new Promise<void>((resolve) => { scope.waiting.push(resolve) })
  scope.nested = true
  try {
    const { transaction } = scope
    const name = `nested_${++transaction.savepoints}`
    exec(c, `SAVEPOINT ${name}`)
    let result: T
    try {
      result = await c.context.run(scopeOf(transaction), fn)
    } catch (error) {
      exec(c, `ROLLBACK TO ${name}`)
      exec(c, `RELEASE ${name}`)
      throw error
    }
    exec(c, `RELEASE ${name}`)
    return result
  } finally {
    const next = scope.waiting.shift()
    if (next !== undefined) next()
    else scope.nested = false
  }
}

async function parallel<T> (c: Connection, fns: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
  if (!inOpen(c)) throw new Error('runner.parallel() outside a transaction')
  const { transaction } = c.context.getStore()!
  // One connection, statements that run synchronously: one after another is as fast.
  const results: Array<PromiseSettledResult<T>> = []
  for (const fn of fns) {
    try {
      results.push({ status: 'fulfilled', value: await c.context.run({ ...scopeOf(transaction), parallel: true }, fn) })
    } catch (reason) {
      results.push({ status: 'rejected', reason })
    }
  }
  return results
}
