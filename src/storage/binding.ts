import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import { ConfigError } from '../config.js'
import type { Database } from '../db/types.js'
import { type FileStore, isKey } from './store.js'

export type Binding = 'bound' | 'created' | 'adopted'

const storeId = (db: Kysely<Database>) => db.selectFrom('meta').select('value').where('key', '=', 'store_id')

/**
 * Makes sure the database and the file store (a content folder, or a bucket's prefix) belong to
 * each other before anything looks at the store's files. A database beside another store's
 * folder (a mistyped DATABASE_URL opens a new, empty one) would see every file there as
 * unaccounted for. Both keep the same store id: the `meta` table and the store's `.store-id`
 * (a file in the folder, an object at `<prefix>/.store-id`). When they do not belong together,
 * this throws a ConfigError and has touched no file.
 */
export async function bindStore (deps: { db: Kysely<Database>, files: FileStore, databasePath: string }): Promise<Binding> {
  const { db, files, databasePath } = deps
  const database = `the database at ${databasePath}`
  const folder = files.location
  const variable = files.variable
  const unchanged = 'No file was touched.'
  // The marker before the database: a binding writes the database first and the marker second,
  // so an instance starting beside another that is binding a new store either sees no marker
  // (and binds the same id, inserted once) or sees the marker and the id already committed.
  const folderId = await files.readStoreId()
  const dbId = (await storeId(db).executeTakeFirst())?.value

  if (folderId !== undefined) {
    if (folderId === dbId) return 'bound'
    throw new ConfigError('DATABASE_URL', dbId === undefined
      ? `${database} does not own ${folder}, which belongs to store ${folderId}. Check DATABASE_URL (and ${variable}). ${unchanged}`
      : `${database} belongs to store ${dbId}, but ${folder} belongs to store ${folderId}. Point DATABASE_URL and ${variable} at the same store. ${unchanged}`)
  }

  // The folder has no marker: a new or empty folder, or a store from before store ids.
  const rows = await db.selectFrom('content').select(['file_key', 'preview_key']).execute()
  const names = new Set(await files.keys())
  const stored = [...names].filter(isKey)
  if (rows.length === 0 && stored.length > 0) {
    throw new ConfigError('DATABASE_URL', `${database} has no items, but ${folder} holds ${stored.length} stored file${stored.length === 1 ? '' : 's'}. Check DATABASE_URL (and ${variable}). ${unchanged}`)
  }
  // An older store is adopted only if the folder really holds its files: otherwise the folder
  // is the wrong one, and every item would be missing.
  if (rows.length > 0 && !rows.some((row) => names.has(row.file_key) || names.has(row.preview_key))) {
    throw new ConfigError(variable, `${folder} holds none of the files of the ${rows.length} items in ${database} (DATABASE_URL). Check ${variable}. ${unchanged}`)
  }

  // The database first: if the process stops before the marker is written, the next start finds
  // the same situation and accepts it again (the reverse order would lock the store out).
  await db.insertInto('meta').values({ key: 'store_id', value: randomUUID() })
    .onConflict((oc) => oc.column('key').doNothing()).execute()
  const id = (await storeId(db).executeTakeFirstOrThrow()).value
  const claimed = await files.claim(id)
  if (claimed !== id) {
    // Another database's instance claimed the same new folder at the same moment.
    throw new ConfigError('DATABASE_URL', `${database} does not own ${folder}, which another instance just bound to store ${claimed}. Check DATABASE_URL (and ${variable}). ${unchanged}`)
  }
  return rows.length > 0 ? 'adopted' : 'created'
}
