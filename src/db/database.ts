import { AsyncLocalStorage } from 'node:async_hooks'
import { existsSync, mkdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { type Compilable, Kysely, SqliteDialect, sql } from 'kysely'
import { Migrator, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import { PARALLEL_NESTING, type Runner } from './runner.js'
import type { Database } from './types.js'

export interface DatabaseHandle {
  db: Kysely<Database>
  /** How the services run their queries and transactions (see ./runner.ts). */
  runner: Runner
  /**
   * A value that moves whenever the data may have changed, whoever wrote it (this process, or
   * another one such as `npm run flush`): what caches that live until the next change compare.
   */
  changeStamp(): Promise<string>
  /** The better-sqlite3 connection; absent on PostgreSQL. */
  sqlite?: SQLite.Database
  close(): Promise<void>
  /** A refused start leaves no trace: closes, and removes the file if this open created it. */
  discardIfNew(): Promise<void>
}

interface Transaction { savepoints: number }
/**
 * What an async context knows: the transaction it runs in, and whether a nested transaction
 * of its level is under way (with those waiting for it). Nested transactions of one level run
 * one after the other: savepoints are a stack, and two begun side by side (a Promise.all)
 * would release each other.
 */
interface Scope { transaction: Transaction, nested: boolean, waiting: Array<() => void>, parallel?: true }
const scopeOf = (transaction: Transaction): Scope => ({ transaction, nested: false, waiting: [] })

/**
 * The Runner on the one better-sqlite3 connection. Statements run synchronously (prepared once,
 * cached); the promises only order them. A transaction holds the connection from BEGIN IMMEDIATE
 * to COMMIT: transactions of other async contexts wait their turn (a FIFO), and so do queries
 * outside any transaction, so nobody reads another's uncommitted rows. With nothing open a query
 * runs at once, without consulting the async context: the read path costs what it did when
 * everything was synchronous.
 */
export function sqliteRunner (sqlite: SQLite.Database): Runner {
  const statements = new Map<string, SQLite.Statement>()
  const prepare = (sql: string): SQLite.Statement => {
    let statement = statements.get(sql)
    if (statement === undefined) {
      statement = sqlite.prepare(sql)
      statements.set(sql, statement)
    }
    return statement
  }
  const exec = (sql: string): void => { prepare(sql).run() }

  const context = new AsyncLocalStorage<Scope>()
  // The transaction holding the connection, and whoever waits for it (transactions and queries).
  let open: Transaction | undefined
  let busy = false
  const waiting: Array<() => void> = []

  async function acquire (): Promise<void> {
    if (!busy) { busy = true; return }
    await new Promise<void>((resolve) => { waiting.push(resolve) })
  }
  function release (): void {
    const next = waiting.shift()
    if (next !== undefined) { next(); return }
    busy = false
    // Nothing open or waiting: stop tracking async contexts (async_hooks cost every promise of
    // the process while a store is enabled); the next transaction enables it again.
    context.disable()
  }

  /** Inside the open transaction's own async context. */
  const inOpen = (): boolean => open !== undefined && context.getStore()?.transaction === open

  // Not an async function: the common case (nothing open, or inside the open transaction) costs
  // one resolved promise.
  function query<R> (run: () => R): Promise<R> {
    if (!busy || inOpen()) {
      try {
        return Promise.resolve(run())
      } catch (error) {
        return Promise.reject(error)
      }
    }
    return queued(run)
  }
  async function queued<R> (run: () => R): Promise<R> {
    await acquire()
    try {
      return run()
    } finally {
      release()
    }
  }

  async function savepoint<T> (scope: Scope, fn: () => Promise<T>): Promise<T> {
    if (scope.nested) await new Promise<void>((resolve) => { scope.waiting.push(resolve) })
    scope.nested = true
    try {
      const { transaction } = scope
      const name = `nested_${++transaction.savepoints}`
      exec(`SAVEPOINT ${name}`)
      let result: T
      try {
        result = await context.run(scopeOf(transaction), fn)
      } catch (error) {
        exec(`ROLLBACK TO ${name}`)
        exec(`RELEASE ${name}`)
        throw error
      }
      exec(`RELEASE ${name}`)
      return result
    } finally {
      const next = scope.waiting.shift()
      if (next !== undefined) next()
      else scope.nested = false
    }
  }

  return {
    dialect: 'sqlite',
    // compile() inside query(): a query Kysely cannot compile rejects like any failing one.
    all<R>(compilable: Compilable<R>): Promise<R[]> {
      return query(() => {
        const { sql, parameters } = compilable.compile()
        const statement = prepare(sql)
        if (statement.reader) return statement.all(...parameters) as R[]
        statement.run(...parameters)
        return []
      })
    },
    first<R>(compilable: Compilable<R>): Promise<R | undefined> {
      return query(() => {
        const { sql, parameters } = compilable.compile()
        return prepare(sql).get(...parameters) as R | undefined
      })
    },
    run (compilable: Compilable<unknown>): Promise<{ changes: number }> {
      return query(() => {
        const { sql, parameters } = compilable.compile()
        return { changes: prepare(sql).run(...parameters).changes }
      })
    },
    async parallel<T>(fns: Array<() => Promise<T>>): Promise<Array<PromiseSettledResult<T>>> {
      if (!inOpen()) throw new Error('runner.parallel() outside a transaction')
      const { transaction } = context.getStore()!
      // One connection, statements that run synchronously: one after another is as fast.
      const results: Array<PromiseSettledResult<T>> = []
      for (const fn of fns) {
        try {
          results.push({ status: 'fulfilled', value: await context.run({ ...scopeOf(transaction), parallel: true }, fn) })
        } catch (reason) {
          results.push({ status: 'rejected', reason })
        }
      }
      return results
    },
    async transaction<T>(fn: () => Promise<T>): Promise<T> {
      if (inOpen()) {
        const scope = context.getStore()!
        if (scope.parallel === true) throw new Error(PARALLEL_NESTING)
        return await savepoint(scope, fn)
      }
      await acquire()
      const transaction: Transaction = { savepoints: 0 }
      try {
        exec('BEGIN IMMEDIATE')
      } catch (error) {
        release()
        throw error
      }
      open = transaction
      try {
        const result = await context.run(scopeOf(transaction), fn)
        exec('COMMIT')
        return result
      } catch (error) {
        // Some errors (SQLITE_FULL, an interrupted commit) have rolled back already.
        if (sqlite.inTransaction) exec('ROLLBACK')
        throw error
      } finally {
        open = undefined
        release()
      }
    }
  }
}

export interface SqliteHandle extends DatabaseHandle {
  sqlite: SQLite.Database
}

export function openDatabase (path: string): SqliteHandle {
  const created = path !== ':memory:' && !existsSync(path)
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
  const sqlite = new SQLite(path)
  sqlite.pragma('journal_mode = WAL')
  // FULL: a commit is on disk before we answer. A webhook answered 200 is never re-sent by
  // Stripe, so it must survive a power cut, not only a crash; webhook group commit keeps the
  // fsyncs few.
  sqlite.pragma('synchronous = FULL')
  sqlite.pragma('foreign_keys = ON')
  sqlite.pragma('busy_timeout = 5000')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  let closed = false
  // Kysely's destroy() closes the better-sqlite3 connection too.
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await db.destroy()
  }
  const runner = sqliteRunner(sqlite)
  // Any write on this connection moves total_changes() (uploads, flush, tests); a commit by
  // another connection (`npm run flush`) moves data_version. One prepared statement to check both.
  const stamp = sql<{ changes: number, version: number }>`SELECT total_changes() AS changes, (SELECT data_version FROM pragma_data_version) AS version`.compile(db)
  const stampQuery: Compilable<{ changes: number, version: number }> = { compile: () => stamp }
  return {
    db,
    runner,
    async changeStamp () {
      const now = (await runner.first(stampQuery))!
      return `${now.changes}:${now.version}`
    },
    sqlite,
    close,
    async discardIfNew () {
      await close()
      if (created) await Promise.all(['', '-wal', '-shm'].map(async (suffix) => { await rm(path + suffix, { force: true }) }))
    }
  }
}

export async function migrateToLatest (db: Kysely<Database>): Promise<MigrationResultSet> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations }
  })
  const result = await migrator.migrateToLatest()
  if (result.error !== undefined) throw result.error
  return result
}
