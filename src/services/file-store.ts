import { createHash, randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, unlink } from 'node:fs/promises'
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
   * Removes stored files that no row refers to: an upload renamed into place whose row was
   * never committed (a crash in between). Only names this store gives are touched, so other
   * files in a shared or misconfigured folder are left alone. Run it only while no upload runs.
   */
  removeOrphans(referenced: ReadonlySet<string>): Promise<string[]>
}

export function createFileStore (dir: string): FileStore {
  const path = (key: string): string => join(dir, key)

  return {
    dir,
    path,

    async receive (stream, options) {
      await mkdir(dir, { recursive: true })
      const id = randomUUID()
      const tempPath = path(`${TEMP_PREFIX}${id}`)
      const inspector = new Inspector(options)
      try {
        // flush: the bytes reach the disk before the file is renamed into place.
        await pipeline(stream, inspector, createWriteStream(tempPath, { flags: 'wx', flush: true }))
      } catch (error) {
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

    async removeOrphans (referenced) {
      const names = await readdir(dir).catch(() => [] as string[])
      const orphans = names.filter((name) => KEY_PATTERN.test(name) && !referenced.has(name))
      await Promise.all(orphans.map(async (name) => { await rm(path(name), { force: true }) }))
      return orphans
    }
  }
}
