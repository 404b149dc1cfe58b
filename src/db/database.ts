import { existsSync, mkdirSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { type Compilable, Kysely, SqliteDialect, sql } from 'kysely'
import { Migrator, type MigrationResultSet } from 'kysely'
import { migrations } from '../../migrations/index.js'
import type { Runner } from './runner.js'
import { sqliteRunner } from './sqlite-runner.js'
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
