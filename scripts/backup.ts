// npm run backup -- <file> [--force]: a consistent snapshot of DATABASE_URL, taken online with
// SQLite's backup API while the app keeps serving. Stored files (CONTENT_DIR, or the bucket's
// prefix of STORAGE_URL) are not in it: copy them after the snapshot (files are only ever added
// or removed, never changed).
import { existsSync } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { configFromEnvironment } from '../src/env.js'

const args = process.argv.slice(2)
const force = args.includes('--force')
const targets = args.filter((arg) => arg !== '--force')
if (targets.length !== 1 || targets[0]!.startsWith('-')) {
  console.error('Usage: npm run backup -- <file> [--force]   (--force overwrites an existing file)')
  process.exit(2)
}
const target = resolve(targets[0]!)

const config = configFromEnvironment()
if (config.database.kind === 'postgres') {
  console.error(`DATABASE_URL is PostgreSQL (${config.database.display}): back it up with pg_dump (see the README), not with this script.`)
  process.exit(1)
}
if (config.databasePath === ':memory:') {
  console.error('DATABASE_URL is :memory:; there is nothing on disk to back up.')
  process.exit(1)
}
if (target === config.databasePath) {
  console.error(`Refusing to back up ${config.databasePath} onto itself.`)
  process.exit(1)
}
if (existsSync(target) && !force) {
  console.error(`${target} already exists. Choose another name, or add --force to overwrite it.`)
  process.exit(1)
}
if (!existsSync(config.databasePath)) {
  console.error(`There is no database at ${config.databasePath} (DATABASE_URL).`)
  process.exit(1)
}

const source = new SQLite(config.databasePath, { fileMustExist: true })
// The app may be writing: wait for its short transactions rather than failing.
source.pragma('busy_timeout = 5000')
// Written under a temporary name and renamed when complete, so a backup cut off half-way never
// looks like a good one.
const partial = `${target}.partial`
try {
  await rm(partial, { force: true })
  // Every page in one step (better-sqlite3 clamps a negative count to 0, which copies nothing):
  // a single consistent read of the database, which a write from the app cannot restart.
  await source.backup(partial, { progress: () => 0x7fffffff })
} catch (error) {
  await rm(partial, { force: true })
  console.error(`Backup failed: ${(error as Error).message}`)
  process.exit(1)
} finally {
  source.close()
}

const copy = new SQLite(partial, { fileMustExist: true })
let summary: string
try {
  const check = copy.pragma('integrity_check', { simple: true })
  if (check !== 'ok') throw new Error(`integrity check of the copy failed: ${String(check)}`)
  const count = (table: string): number => (copy.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n
  summary = ['users', 'content', 'orders', 'library', 'payment_events'].map((table) => `${count(table)} ${table}`).join(', ')
  // A standalone file: no -wal beside it is needed to read it.
  copy.pragma('journal_mode = DELETE')
} catch (error) {
  copy.close()
  await rm(partial, { force: true })
  console.error(`Backup failed: ${(error as Error).message}`)
  process.exit(1)
}
copy.close()
await rename(partial, target)
const { size } = await stat(target)
console.log(`Backed up ${config.databasePath} to ${target} (${(size / 1024).toFixed(0)} KiB: ${summary}).`)
const storage = config.storage.kind === 's3' ? `s3://${config.storage.bucket}/${config.storage.prefix}` : config.contentDir
console.log(`Stored files are not in it: copy ${storage} too.`)
