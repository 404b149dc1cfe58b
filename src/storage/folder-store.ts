import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  type FileStore, type FolderStore, Inspector, isKey, MARKER, type PendingFile, QUARANTINE, type ReceiveOptions,
  SWEEP_MAX_AGE_MS, SWEEP_MIN_AGE_MS, type SweepResult, tooLarge
} from './store.js'

/** The prefix of files being received (and of a store id being written): keys() and sweep() skip them. */
const TEMP_PREFIX = '.tmp-'

/** The content folder: files renamed into place, served by @fastify/send (or nginx) from `dir`. */
export function createFileStore (dir: string, variable: FileStore['variable'] = 'CONTENT_DIR'): FolderStore {
  const path = (key: string): string => join(dir, key)
  const missing = new Set<string>()
  return {
    kind: 'folder',
    dir,
    path,
    location: `${variable} ${dir}`,
    variable,
    quarantineLocation: join(dir, QUARANTINE),
    receive: async (stream, options) => await receive(dir, stream, options),
    async commit (file) {
      if (file.tempPath !== null) await rename(file.tempPath, path(file.key))
    },
    async discard (file) {
      if (file.tempPath !== null) await rm(file.tempPath, { force: true })
      await rm(path(file.key), { force: true })
    },
    remove: async (key) => { await remove(path(key)) },
    async keys () {
      return (await names(dir)).filter((name) => !name.startsWith('.'))
    },
    async removeTemporary () {
      const temporary = (await names(dir)).filter((name) => name.startsWith(TEMP_PREFIX))
      await Promise.all(temporary.map(async (name) => { await rm(path(name), { force: true }) }))
      return temporary.length
    },
    sweep: async (referenced) => await sweep(dir, referenced),
    readStoreId: async () => await readStoreId(dir),
    claim: async (id) => await claim(dir, id),
    async exists (key) {
      const found = await isFile(path(key))
      if (found) missing.delete(key)
      else missing.add(key)
      return found
    },
    missing,
    async validators (key) {
      return await stat(path(key)).then((s) => ({ size: s.size, modified: s.mtime, etag: null }), () => undefined)
    },
    async check () {
      return true
    },
    async close () {}
  }
}

/** The folder's entries; none when it does not exist yet. */
async function names (dir: string): Promise<string[]> {
  return await readdir(dir).catch(() => [] as string[])
}

async function remove (file: string): Promise<void> {
  try {
    await unlink(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
}

async function isFile (file: string): Promise<boolean> {
  return await stat(file).then((s) => s.isFile(), (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false
    throw error
  })
}

/** Streams the file into a temporary file, checked and hashed on the way; commit() renames it. */
async function receive (dir: string, stream: Readable, options: ReceiveOptions): Promise<PendingFile> {
  await mkdir(dir, { recursive: true })
  const id = randomUUID()
  const tempPath = join(dir, `${TEMP_PREFIX}${id}`)
  const inspector = new Inspector(options)
  // flush: the bytes reach the disk before the file is renamed into place.
  const out = createWriteStream(tempPath, { flags: 'wx', flush: true })
  try {
    await pipeline(stream, inspector, out)
  } catch (error) {
    // A body cut off at once can fail the pipeline while the file is still being opened: the
    // open then creates the file after a removal would have run. Wait for it to close first.
    if (!out.closed) await once(out, 'close').catch(() => {})
    await rm(tempPath, { force: true })
    throw error
  }
  // @fastify/multipart ends a file stream early, flagged truncated, at its size limit.
  const problem = (stream as Readable & { truncated?: boolean }).truncated === true ? tooLarge(options) : inspector.problem
  if (problem !== undefined) {
    await rm(tempPath, { force: true })
    throw problem
  }
  return { key: `${id}.${inspector.extension!}`, tempPath, size: inspector.size, sha256: inspector.digest() }
}

/** FileStore.sweep for a folder: a rename into QUARANTINE. */
async function sweep (dir: string, referenced: () => Promise<ReadonlySet<string>>): Promise<SweepResult> {
  const keys = (await names(dir)).filter(isKey)
  const known = await referenced()
  const quarantined: string[] = []
  const left: string[] = []
  const now = Date.now()
  for (const name of keys.filter((n) => !known.has(n))) {
    const modified = await stat(join(dir, name)).then((s) => s.mtimeMs, () => undefined)
    if (modified === undefined) continue // gone meanwhile
    const age = now - modified
    if (age > SWEEP_MIN_AGE_MS && age < SWEEP_MAX_AGE_MS) {
      await mkdir(join(dir, QUARANTINE), { recursive: true })
      const moved = await rename(join(dir, name), join(dir, QUARANTINE, name)).then(() => true, (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return false // removed meanwhile (an item deleted)
        throw error
      })
      if (moved) quarantined.push(name)
    } else {
      left.push(name)
    }
  }
  return { quarantined, left }
}

async function readStoreId (dir: string): Promise<string | undefined> {
  try {
    return (await readFile(join(dir, MARKER), 'utf8')).trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function claim (dir: string, id: string): Promise<string> {
  await mkdir(dir, { recursive: true })
  // Written whole under a temporary name, then linked: link() fails when the marker exists,
  // so two instances starting at once cannot both win, and no one reads a half-written id.
  const temp = join(dir, `${TEMP_PREFIX}store-id-${randomUUID()}`)
  await writeFile(temp, `${id}\n`, { flush: true })
  try {
    await link(temp, join(dir, MARKER))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  } finally {
    await rm(temp, { force: true })
  }
  return (await readStoreId(dir))!
}
