import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { join } from 'node:path'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DomainError } from './errors.js'

/** A received file still under its temporary name: commit() renames it into place. */
export interface PendingFile {
  key: string
  tempPath: string
  size: number
  sha256: string
}

export interface ReceiveOptions {
  /** What the file is, for messages ("PDF", "preview image"). */
  label: string
  maxBytes: number
  /** Looks at the first bytes; returns the extension to store under, or undefined to reject. */
  sniff: (head: Buffer) => string | undefined
  /** What to say when sniff rejects the file. */
  wrongType: string
}

const TEMP_PREFIX = '.tmp-'
/** The names receive() gives files: a random UUID and the sniffed extension, nothing else. */
const KEY_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(pdf|png|jpg|webp)$/
const HEAD_BYTES = 16
/** Holds the id of the store (see store-binding.ts); dot-named, so keys() and flush skip it. */
const MARKER = '.store-id'
/** Where the sweep moves files no row accounts for; dot-named, so keys() and flush skip it. */
export const QUARANTINE = '.quarantine'
/**
 * A file no row accounts for is a crash's leftover (renamed into place, row never committed)
 * only within this window. Younger, it may be another instance's upload about to commit its
 * row; older than a day, it is more likely something a person put there (a restored copy,
 * another store's file) than a crash of the last run, so it is left for that person.
 */
export const SWEEP_MIN_AGE_MS = 60_000
export const SWEEP_MAX_AGE_MS = 24 * 60 * 60 * 1000

/** Whether a name is one this store gives its files (the folder may hold others). */
export const isKey = (name: string): boolean => KEY_PATTERN.test(name)

export const sniffPdf = (head: Buffer): string | undefined =>
  head.subarray(0, 5).toString('latin1') === '%PDF-' ? 'pdf' : undefined

export function sniffImage (head: Buffer): string | undefined {
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png'
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpg'
  if (head.subarray(0, 4).toString('latin1') === 'RIFF' && head.subarray(8, 12).toString('latin1') === 'WEBP') return 'webp'
  return undefined
}

/**
 * Counts, hashes and checks the magic bytes of a stream as it passes. A wrong or oversized file
 * stops being written the moment it is found out; the rest of it is read and dropped rather than
 * the stream destroyed, so the multipart parser can go on to the next part.
 */
class Inspector extends Transform {
  size = 0
  extension: string | undefined
  problem: DomainError | undefined
  readonly #hash = createHash('sha256')
  #head: Buffer[] = []
  #headLength = 0

  constructor (private readonly options: ReceiveOptions) {
    super()
  }

  override _transform (chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.problem !== undefined) { callback(); return }
    this.size += chunk.length
    if (this.size > this.options.maxBytes) {
      this.problem = tooLarge(this.options)
      callback()
      return
    }
    this.#hash.update(chunk)
    if (this.extension === undefined) {
      this.#head.push(chunk)
      this.#headLength += chunk.length
      if (this.#headLength >= HEAD_BYTES && !this.#sniff()) { callback(); return }
    }
    callback(null, chunk)
  }

  override _flush (callback: TransformCallback): void {
    if (this.problem === undefined) {
      if (this.size === 0) this.problem = new DomainError('invalid', `The ${this.options.label} is empty.`)
      else if (this.extension === undefined) this.#sniff()
    }
    callback()
  }

  #sniff (): boolean {
    this.extension = this.options.sniff(Buffer.concat(this.#head))
    this.#head = []
    if (this.extension === undefined) this.problem = new DomainError('invalid', this.options.wrongType)
    return this.problem === undefined
  }

  digest (): string {
    return this.#hash.digest('hex')
  }
}

function tooLarge (options: ReceiveOptions): DomainError {
  return new DomainError('invalid', `The ${options.label} is larger than ${Math.floor(options.maxBytes / 1024 / 1024)} MB.`)
}

export interface FileStore {
  dir: string
  path(key: string): string
  /** Streams to a temporary file; rejects with a DomainError (and leaves nothing) on bad input. */
  receive(stream: Readable, options: ReceiveOptions): Promise<PendingFile>
  commit(file: PendingFile): Promise<void>
  discard(file: PendingFile): Promise<void>
  remove(key: string): Promise<void>
  /** Every stored file's key (temporary files excluded). */
  keys(): Promise<string[]>
  /** Removes temporary files an interrupted upload left behind. */
  removeTemporary(): Promise<number>
  /**
   * Never deletes: files with this store's names that no row refers to (an upload renamed into
   * place whose row was never committed) are moved into QUARANTINE when their age is inside
   * the sweep window, and only reported otherwise.
   */
  sweep(referenced: ReadonlySet<string>): Promise<{ quarantined: string[], left: string[] }>
  /** The store id written in the folder, if any. */
  readStoreId(): Promise<string | undefined>
  /**
   * Writes `id` as the folder's store id unless the folder already has one; returns the id the
   * folder holds afterwards (another instance may have written its own first).
   */
  claim(id: string): Promise<string>
  /** Whether a stored file is there; a missing one is remembered in `missing`, a found one forgotten. */
  exists(key: string): Promise<boolean>
  /** Keys known to be missing from the folder (at start-up or on a download): /healthz reports them. */
  readonly missing: ReadonlySet<string>
}

export function createFileStore (dir: string): FileStore {
  const path = (key: string): string => join(dir, key)
  const missing = new Set<string>()

  async function readStoreId (): Promise<string | undefined> {
    try {
      return (await readFile(path(MARKER), 'utf8')).trim()
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw error
    }
  }

  return {
    dir,
    path,

    async receive (stream, options) {
      await mkdir(dir, { recursive: true })
      const id = randomUUID()
      const tempPath = path(`${TEMP_PREFIX}${id}`)
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
    },

    async commit (file) {
      await rename(file.tempPath, path(file.key))
    },

    async discard (file) {
      await rm(file.tempPath, { force: true })
      await rm(path(file.key), { force: true })
    },

    async remove (key) {
      try {
        await unlink(path(key))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      }
    },

    async keys () {
      const names = await readdir(dir).catch(() => [] as string[])
      return names.filter((name) => !name.startsWith('.'))
    },

    async removeTemporary () {
      const names = await readdir(dir).catch(() => [] as string[])
      const temporary = names.filter((name) => name.startsWith(TEMP_PREFIX))
      await Promise.all(temporary.map(async (name) => { await rm(path(name), { force: true }) }))
      return temporary.length
    },

    async sweep (referenced) {
      const names = await readdir(dir).catch(() => [] as string[])
      const quarantined: string[] = []
      const left: string[] = []
      const now = Date.now()
      for (const name of names.filter((n) => isKey(n) && !referenced.has(n))) {
        const modified = await stat(path(name)).then((s) => s.mtimeMs, () => undefined)
        if (modified === undefined) continue // gone meanwhile
        const age = now - modified
        if (age > SWEEP_MIN_AGE_MS && age < SWEEP_MAX_AGE_MS) {
          await mkdir(join(dir, QUARANTINE), { recursive: true })
          await rename(path(name), join(dir, QUARANTINE, name))
          quarantined.push(name)
        } else {
          left.push(name)
        }
      }
      return { quarantined, left }
    },

    readStoreId,

    async claim (id) {
      await mkdir(dir, { recursive: true })
      // Written whole under a temporary name, then linked: link() fails when the marker exists,
      // so two instances starting at once cannot both win, and no one reads a half-written id.
      const temp = path(`${TEMP_PREFIX}store-id-${randomUUID()}`)
      await writeFile(temp, `${id}\n`, { flush: true })
      try {
        await link(temp, path(MARKER))
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      } finally {
        await rm(temp, { force: true })
      }
      return (await readStoreId())!
    },

    async exists (key) {
      const found = await stat(path(key)).then((s) => s.isFile(), (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return false
        throw error
      })
      if (found) missing.delete(key)
      else missing.add(key)
      return found
    },

    missing
  }
}
