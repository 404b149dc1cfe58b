import { readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { type DatabaseHandle, migrateToLatest, openDatabase } from '../../src/db/database.js'
import { openPostgres } from '../../src/db/postgres.js'
import { t as root } from 'tap'
import type { StorageConfig } from '../../src/config.js'
import { type PostgresCluster, startPostgres } from './postgres.js'
import { type S3Server, startS3 } from './s3.js'

// Which engines the suite's apps run on. By default SQLite and the content folder; with
// TEST_BACKEND=postgres-s3 (the second run of `npm test`, see scripts/test-backends.mjs) every
// app built in a test gets a fresh PostgreSQL database and its own prefix of one bucket. One
// throwaway cluster and one s3rver per test file process, started on the first build and stopped
// when the file's root test ends.

export type TestBackend = 'sqlite-files' | 'postgres-s3'

export function testBackend (): TestBackend {
  const raw = process.env.TEST_BACKEND ?? ''
  if (raw === '' || raw === 'sqlite-files') return 'sqlite-files'
  if (raw === 'postgres-s3') return 'postgres-s3'
  throw new Error(`TEST_BACKEND must be sqlite-files or postgres-s3, got "${raw}"`)
}

export const onPostgres = (): boolean => testBackend() === 'postgres-s3'

interface Shared {
  postgres: PostgresCluster
  s3: S3Server
  /** A database migrated to the latest schema, which each test's database copies. */
  template: string
}
let shared: Promise<Shared> | undefined

async function start (): Promise<Shared> {
  const [postgres, s3] = await Promise.all([startPostgres(root), startS3(root)])
  if (postgres.skip !== false) throw new Error(`TEST_BACKEND=postgres-s3: ${postgres.skip}`)
  const url = await postgres.build()
  const migrated = openPostgres(url, { max: 1 })
  try {
    await migrateToLatest(migrated.db)
  } finally {
    await migrated.close()
  }
  return { postgres, s3, template: new URL(url).pathname.slice(1) }
}

/** The file's cluster and S3 server (started on first use). */
export async function sharedBackend (): Promise<Shared> {
  shared ??= start()
  return await shared
}

// A test's folder names its database and prefix: an app restarted on the same folder (testEnv
// with the same dir) finds the same state, as it would find the same SQLite file and content folder.
const envs = new Map<string, Record<string, string>>()

/**
 * On postgres-s3, a fresh database and S3 prefix for the test folder `dir`, remembered so that
 * testEnv(dir, ...) gives them to every app started on it; on sqlite-files nothing.
 */
export async function provisionBackend (dir: string): Promise<Record<string, string>> {
  if (!onPostgres()) return {}
  const existing = envs.get(dir)
  if (existing !== undefined) return existing
  const { postgres, s3, template } = await sharedBackend()
  const env = { DATABASE_URL: await postgres.build({ template }), ...s3.env(basename(dir).replace(/[^A-Za-z0-9_-]/g, '-')) }
  envs.set(dir, env)
  return env
}

/** What provisionBackend gave `dir` (nothing on sqlite-files). */
export function backendEnv (dir: string): Record<string, string> {
  return envs.get(dir) ?? {}
}

/** The database behind a test's DATABASE_URL, opened beside the app (a SQLite file or PostgreSQL). */
export async function openTestDatabase (url: string): Promise<DatabaseHandle> {
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, { max: 4 })
  return openDatabase(url)
}

/**
 * The names in an app's store, as a folder listing gives them: the content folder's entries
 * (dot-files too: temporary uploads, .store-id, .quarantine), or the object keys under its S3
 * prefix without the prefix (a quarantined object as .quarantine/<key>).
 */
export async function storeNames (storage: StorageConfig): Promise<string[]> {
  if (storage.kind === 'folder') return await readdir(storage.dir).catch(() => [] as string[])
  const { s3 } = await sharedBackend()
  const keys = await s3.keys(storage.prefix)
  return keys.map((key) => key.slice(storage.prefix.length + 1))
}

/** One stored file's bytes (null when there is none). */
export async function readStored (storage: StorageConfig, key: string): Promise<Buffer | null> {
  if (storage.kind === 'folder') return await readFile(join(storage.dir, key)).catch(() => null)
  const { s3 } = await sharedBackend()
  try {
    const object = await s3.client.send(new GetObjectCommand({ Bucket: storage.bucket, Key: `${storage.prefix}/${key}` }))
    return Buffer.from(await object.Body!.transformToByteArray())
  } catch {
    return null
  }
}

/** When a stored file was last written (ms since the epoch; 0 when there is none). */
export async function storedAt (storage: StorageConfig, key: string): Promise<number> {
  if (storage.kind === 'folder') return await stat(join(storage.dir, key)).then((s) => s.mtimeMs, () => 0)
  const { s3 } = await sharedBackend()
  try {
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: storage.bucket, Key: `${storage.prefix}/${key}` }))
    return head.LastModified?.getTime() ?? 0
  } catch {
    return 0
  }
}

/** Writes a file into an app's store behind its back (a crash's leftover, a stranger's file). */
export async function writeStored (storage: StorageConfig, key: string, body: Buffer | string): Promise<void> {
  if (storage.kind === 'folder') { await writeFile(join(storage.dir, key), body); return }
  const { s3 } = await sharedBackend()
  await s3.client.send(new PutObjectCommand({ Bucket: storage.bucket, Key: `${storage.prefix}/${key}`, Body: body }))
}

/** Makes a stored file look `ms` old. */
export async function ageStored (storage: StorageConfig, key: string, ms: number): Promise<void> {
  if (storage.kind === 'folder') {
    const then = new Date(Date.now() - ms)
    await utimes(join(storage.dir, key), then, then)
    return
  }
  const { s3 } = await sharedBackend()
  await s3.age(`${storage.prefix}/${key}`, ms)
}

/** Deletes a stored file behind the app's back (a file lost by the store). */
export async function removeStored (storage: StorageConfig, key: string): Promise<void> {
  if (storage.kind === 'folder') { await rm(join(storage.dir, key), { force: true }); return }
  const { s3 } = await sharedBackend()
  await s3.client.send(new DeleteObjectCommand({ Bucket: storage.bucket, Key: `${storage.prefix}/${key}` }))
}
