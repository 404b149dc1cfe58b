import { type Compilable, type Kysely, sql } from 'kysely'
import type { Database } from './types.js'

/**
 * What the page caches compare to know the database changed, in any instance.
 * SQLite: this connection's total_changes() and data_version (another connection's commit).
 * PostgreSQL: the current snapshot (xmin:xmax:in-progress ids). Every writing transaction
 * takes a transaction id, so any commit since (by any instance) changes it, and reads alone do
 * not: a page read after a stamp never predates it. One round trip, no table, no trigger.
 */
export function changeStamp (db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): Compilable<{ stamp: string }> {
  const query = dialect === 'postgres'
    ? sql<{ stamp: string }>`SELECT pg_current_snapshot()::text AS stamp`.compile(db)
    : sql<{ stamp: string }>`SELECT total_changes() || ':' || (SELECT data_version FROM pragma_data_version) AS stamp`.compile(db)
  return { compile: () => query }
}
