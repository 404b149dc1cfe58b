import { type Compilable, type Kysely, sql } from 'kysely'
import type { Database } from './types.js'

/**
 * What the page caches compare to know the database changed, in any instance, on PostgreSQL:
 * the current snapshot (xmin:xmax:in-progress ids). Every writing transaction takes a
 * transaction id, so any commit since (by any instance) changes it, and reads alone do not: a
 * page read after a stamp never predates it. One round trip, no table, no trigger. (SQLite's,
 * total_changes() and data_version read as two integers, is in database.ts: joining them in SQL
 * cost its query half as much again.)
 */
export function changeStamp (db: Kysely<Database>): Compilable<{ stamp: string }> {
  const query = sql<{ stamp: string }>`SELECT pg_current_snapshot()::text AS stamp`.compile(db)
  return { compile: () => query }
}
