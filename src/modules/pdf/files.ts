import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { DomainError } from '../../lib/errors.js'
import { type PendingFile, sniffImage, sniffPdf, type Store } from '../../storage/store.js'

/** What the PDF engine made and the store keeps: a page image or a PDF (sample, stamped copy). */
export type Made = { kind: 'image', bytes: Uint8Array } | { kind: 'pdf', path: string }

/** Up to what a made file may weigh: a page image at 800 px is far below; a copy is the PDF plus a stamp. */
const MAX_IMAGE_BYTES = 20 * 1024 * 1024

/** A temporary folder for the engine's input and output, removed afterwards whatever happens. */
export async function inTempDir<T> (use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pdfmarket-'))
  try {
    return await use(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * The PDF as a local file the engine's worker can read: the folder's own file (or an upload's
 * temporary one), or the bucket's object copied into a temporary folder for the time of `use`.
 */
export async function withLocalCopy<T> (files: Store, file: { key: string, tempPath?: string | null }, use: (path: string) => Promise<T>): Promise<T> {
  if (files.kind === 'folder') return await use(file.tempPath ?? files.path(file.key))
  return await inTempDir(async (dir) => {
    // The object's body is piped in the same turn it arrives: a body left without a reader
    // while something else is awaited has no error listener, and a connection the bucket resets
    // in that gap (s3rver under load did, at a restarted instance's first job) would be an
    // uncaught error that ends the process.
    const read = await files.read(file.key, {})
    if (read === 'missing' || read.body === null) throw new DomainError('not_found', 'The PDF is missing from the store.')
    const path = join(dir, 'input.pdf')
    await pipeline(read.body, createWriteStream(path))
    return await use(path)
  })
}

/** Puts what the engine made into the store under a new key (checked as any upload is), committed. */
export async function keep (files: Store, made: Made, maxPdfBytes: number): Promise<PendingFile> {
  const pending = made.kind === 'image'
    ? await files.receive(Readable.from([Buffer.from(made.bytes.buffer, made.bytes.byteOffset, made.bytes.byteLength)]), {
      label: 'page image', maxBytes: MAX_IMAGE_BYTES, sniff: sniffImage, wrongType: 'The page image is not an image.'
    })
    : await files.receive(createReadStream(made.path), {
      label: 'PDF', maxBytes: maxPdfBytes, sniff: sniffPdf, wrongType: 'The PDF made is not a PDF.'
    })
  try {
    await files.commit(pending)
  } catch (error) {
    await files.discard(pending).catch(() => {})
    throw error
  }
  return pending
}
