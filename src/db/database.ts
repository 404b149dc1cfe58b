import { existsSync, mkdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { type Compilable, Kysely, SqliteDialect } from 'kysely'
import { Migrator, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import type { Database } from './types.js'

/**
 * Runs compiled Kysely queries synchronously on the same better-sqlite3 connection.
 *
 * better-sqlite3 transactions are synchronous, and a transaction that spans an `await` can
 * interleave with other requests on the one connection. Multi-statement writes (fulfilment,
 * uploads, flush) therefore build their queries with Kysely for the types and run them here,
 * inside `transaction()`, with no await in between.
 */
export interface SyncRunner {
  all<R>(query: Compilable<R>): R[]
  first<R>(query: Compilable<R>): R | undefined
  run(query: Compilable<unknown>): { changes: number }
  transaction<T>(fn: () => T): T
}

export interface DatabaseHandle {
  db: Kysely<Database>
  sync: SyncRunner
  sqlite: SQLite.Database
  close(): Promise<void>
  /** A refused start leaves no trace: closes, and removes the file if this open created it. */
  discardIfNew(): Promise<void>
}

function syncRunner (sqlite: SQLite.Database): SyncRunner {
  const statements = new Map<string, SQLite.Statement>()
  const prepare = (sql: string): SQLite.Statement => {
    let statement = statements.get(sql)
    if (statement === undefined) {
      statement = sqlite.prepare(sql)
      statements.set(sql, statement)
    }
    return statement
  }
  return {
    all<R>(query: Compilable<R>): R[] {
      const { sql, parameters } = query.compile()
      const statement = prepare(sql)
      if (statement.reader) return statement.all(...parameters) as R[]
      statement.run(...parameters)
      return []
    },
    first<R>(query: Compilable<R>): R | undefined {
      const { sql, parameters } = query.compile()
      return prepare(sql).get(...parameters) as R | undefined
    },
    run (query: Compilable<unknown>): { changes: number } {
      const { sql, parameters } = query.compile()
      return { changes: prepare(sql).run(...parameters).changes }
    },
    transaction<T>(fn: () => T): T {
      return sqlite.transaction(fn).immediate()
    }
  }
}

export function openDatabase (path: string): DatabaseHandle {
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
  return {
    db,
    sync: syncRunner(sqlite),
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
