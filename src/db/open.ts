import type { Config } from '../config.js'
import { type DatabaseHandle, openDatabase } from './database.js'

/**
 * The database DATABASE_URL names, for the app and the scripts alike: a SQLite file, or
 * PostgreSQL (loaded only then). `name` says which in messages, without a password.
 */
export async function openConfiguredDatabase (config: Pick<Config, 'database' | 'databasePath'>, options: { onIdleError?: (error: Error) => void } = {}): Promise<{ handle: DatabaseHandle, name: string }> {
  const { database } = config
  if (database.kind === 'postgres') {
    const { openPostgres } = await import('./postgres.js')
    return { handle: openPostgres(database.url, options), name: database.display }
  }
  return { handle: openDatabase(config.databasePath), name: config.databasePath }
}
