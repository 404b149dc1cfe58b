import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { DomainError } from '../lib/errors.js'

// The store's interface (FileStore: a folder or a bucket), the names it gives files and the
// checks every upload passes through whichever store takes it. The two stores implement it in
// folder-store.ts and s3-store.ts; open.ts picks one.

/** A received file, checked and hashed: commit() puts it into place before its row is committed. */
export interface PendingFile {
  key: string
  /**
   * The folder's temporary file that commit() renames to the key; null when receive() already
   * wrote the key (an object store's object appears only once its upload completes, after the checks).
   */
  tempPath: string | null
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

/** The names receive() gives files: a random UUID and the sniffed extension, nothing else. */
const KEY_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.(pdf|png|jpg|webp)$/
const HEAD_BYTES = 16
/** Holds the id of the store (see binding.ts); dot-named, so keys() and flush skip it. */
export const MARKER = '.store-id'
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
export class Inspector extends Transform {
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
      this.#found(tooLarge(this.options))
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
      if (this.size === 0) this.#found(new DomainError('invalid', `The ${this.options.label} is empty.`))
      else if (this.extension === undefined) this.#sniff()
    }
    callback()
  }

  #sniff (): boolean {
    this.extension = this.options.sniff(Buffer.concat(this.#head))
    this.#head = []
    if (this.extension === undefined) this.#found(new DomainError('invalid', this.options.wrongType))
    return this.problem === undefined
  }

  /** Emitted as 'problem' too: an object store aborts its upload at once rather than at the end. */
  #found (problem: DomainError): void {
    this.problem = problem
    this.emit('problem', problem)
  }

  digest (): string {
    return this.#hash.digest('hex')
  }
}

export function tooLarge (options: ReceiveOptions): DomainError {
  return new DomainError('invalid', `The ${options.label} is larger than ${Math.floor(options.maxBytes / 1024 / 1024)} MB.`)
}

/**
 * Where stored files live: a folder (CONTENT_DIR) or an S3-compatible bucket (STORAGE_URL). Every
 * method is async; the services see only this, the download routes look at `kind`.
 */
export interface FileStore {
  /** For messages and logs: the variable and its value ("CONTENT_DIR /srv/content", "STORAGE_URL s3://b/p"). */
  readonly location: string
  /** The variable a person fixes when the store is the wrong one. */
  readonly variable: 'CONTENT_DIR' | 'STORAGE_URL'
  /** Where sweep() moves files, for the log. */
  readonly quarantineLocation: string
  /** Streams the file in, checking and hashing it; rejects with a DomainError (and leaves nothing) on bad input. */
  receive(stream: Readable, options: ReceiveOptions): Promise<PendingFile>
  commit(file: PendingFile): Promise<void>
  discard(file: PendingFile): Promise<void>
  remove(key: string): Promise<void>
  /** Every stored file's key (temporary files excluded). */
  keys(): Promise<string[]>
  /** Removes what interrupted uploads left behind (temporary files, unfinished multipart uploads). */
  removeTemporary(): Promise<number>
  /**
   * Never deletes: files with this store's names that no row refers to (an upload renamed into
   * place whose row was never committed) are moved into QUARANTINE when their age is inside
   * the sweep window, and only reported otherwise. `referenced` is read after the listing, so a
   * row committed before it is seen whatever the files listed. A file gone meanwhile is skipped.
   */
  sweep(referenced: () => Promise<ReadonlySet<string>>): Promise<SweepResult>
  /** The store id written in the store, if any. */
  readStoreId(): Promise<string | undefined>
  /**
   * Writes `id` as the store's id unless it already has one; returns the id the store holds
   * afterwards (another instance may have written its own first).
   */
  claim(id: string): Promise<string>
  /** Whether a stored file is there; a missing one is remembered in `missing`, a found one forgotten. */
  exists(key: string): Promise<boolean>
  /** What an If-Range is compared with (size, modification time, an object's ETag); undefined when the file is gone. */
  validators(key: string): Promise<FileValidators | undefined>
  /** Keys known to be missing from the store (at start-up or on a download): /healthz reports them. */
  readonly missing: ReadonlySet<string>
  /** Whether the store answers (/healthz); a folder always does. */
  check(): Promise<boolean>
  /** Lets go of connections. */
  close(): Promise<void>
}

/** What a sweep did: the files moved into QUARANTINE, and those no row refers to that it left. */
export interface SweepResult {
  quarantined: string[]
  left: string[]
}

/** A stored file's validators; the folder has no ETag of its own (each server derives one). */
export interface FileValidators {
  size: number
  modified: Date
  etag: string | null
}

/** The content folder: @fastify/send (or nginx) serves its files from `dir`. */
export interface FolderStore extends FileStore {
  readonly kind: 'folder'
  readonly dir: string
  path(key: string): string
}

/** Conditional and Range request headers, passed to the object store as they came. */
export interface ReadConditions {
  range?: string
  ifRange?: string
  ifMatch?: string
  ifNoneMatch?: string
  ifModifiedSince?: string
  ifUnmodifiedSince?: string
}

/** An object store's answer to a read: the status and headers to pass on, and the body (none for HEAD, 304, 412, 416). */
export interface ObjectRead {
  status: 200 | 206 | 304 | 412 | 416
  headers: Record<string, string>
  body: Readable | null
}

/** An S3-compatible bucket (src/storage/s3-store.ts): the app streams its objects, or hands out presigned URLs. */
export interface ObjectStore extends FileStore {
  readonly kind: 's3'
  /** GET (or HEAD with `head`) of an object with Range and conditions; 'missing' when it is gone. */
  read(key: string, conditions: ReadConditions, head?: boolean): Promise<ObjectRead | 'missing'>
  /** A presigned GET valid `seconds`, answered as an attachment named `fileName`. */
  presign(key: string, options: { fileName: string, contentType: string, seconds: number }): Promise<string>
}

export type Store = FolderStore | ObjectStore
