import { Readable } from 'node:stream'
import type { SendOptions } from '@fastify/static'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Content, DownloadVia } from '../../db/types.js'
import { HttpError } from '../../http/errors.js'
import type { FileValidators, ObjectStore } from '../../storage/store.js'
import { attachment } from '../../lib/slugs.js'

// A row whose file is gone (deleted by hand, an incomplete restore) is the shop's fault, not
// the visitor's: a 503 page that says so and what to do, while /healthz reports it.
export const MISSING_PDF = 'This PDF\'s file is missing from the store. The shop has been told; please try again later or contact the shop.'

/** Which file of an item is sent, under which name. */
export interface PdfFile {
  key: string
  version: number
  name: string
  size: number
}

/** Who downloads it and how: the log's row, and the purchase DOWNLOAD_LIMIT counts. */
export interface Downloader {
  orderId: string | null
  userId: number
  email: string | null
  via: DownloadVia
  /** Downloads allowed for the purchase; 0 = unlimited. */
  limit: number
}

/** The 403 past DOWNLOAD_LIMIT, naming the store's contact (a link's page shows it its own way). */
export class DownloadLimitReached extends HttpError {
  constructor (readonly limit: number, readonly contactEmail: string) {
    const contact = contactEmail === '' ? 'the store' : contactEmail
    super(403, `This purchase has been downloaded ${limit} ${limit === 1 ? 'time' : 'times'}, the most allowed. To download it again, write to ${contact}.`)
  }
}

/** How long a presigned download URL (DOWNLOAD_OFFLOAD=redirect) stays valid. */
export const PRESIGNED_SECONDS = 60

const RANGE_NOT_SATISFIABLE = 'The part of the file asked for is beyond its end. Download the whole file again.'
const PRECONDITION_FAILED = 'The file has changed since your copy was made. Download the whole file again.'

/** Who answers a Range for a PDF: @fastify/send (the folder), nginx (X-Accel-Redirect), or the object store. */
export type RangeServer = 'send' | 'nginx' | 's3'

/**
 * Whether `server` would answer a Range with `If-Range: <ifRange>` as a range (true) or send the
 * whole file (false), for a file with these validators. Each server's own rule: @fastify/send
 * takes an ETag anywhere in the header and a date not older than the file; nginx an identical
 * strong ETag or the very date; the object store path (src/storage/s3-store.ts) the ETag as
 * If-Match and the date as If-Unmodified-Since.
 */
export function ifRangeHolds (ifRange: string, file: FileValidators, server: RangeServer): boolean {
  const value = ifRange.trim()
  // HTTP dates have whole seconds.
  const modified = Math.floor(file.modified.getTime() / 1000) * 1000
  if (value.includes('"')) {
    if (server === 'send') return value.includes(`W/"${file.size.toString(16)}-${file.modified.getTime().toString(16)}"`)
    if (server === 'nginx') return value === `"${(modified / 1000).toString(16)}-${file.size.toString(16)}"`
    return file.etag !== null && value === file.etag
  }
  const date = Date.parse(value)
  if (Number.isNaN(date)) return false
  return server === 'nginx' ? modified === date : modified <= date
}

/**
 * Streams an object of the bucket through the app: the client's Range and conditional headers
 * go to the object store, its status (200, 206, 304, 412, 416) and headers come back. An object
 * gone since the missing-file check is missing all the same.
 */
export async function sendObject (request: FastifyRequest, reply: FastifyReply, store: ObjectStore, key: string, options: { missing: string, headers: Record<string, string> }): Promise<FastifyReply> {
  const header = (name: string): string | undefined => {
    const value = request.headers[name]
    return typeof value === 'string' ? value : undefined
  }
  const read = await store.read(key, {
    range: header('range'),
    ifRange: header('if-range'),
    ifMatch: header('if-match'),
    ifNoneMatch: header('if-none-match'),
    ifModifiedSince: header('if-modified-since'),
    ifUnmodifiedSince: header('if-unmodified-since')
  }, request.method === 'HEAD')
  if (read === 'missing') {
    await store.exists(key) // remembered for /healthz
    request.log.error({ key }, 'a stored file is missing from STORAGE_URL')
    throw new HttpError(503, options.missing)
  }
  if (read.status === 412 || read.status === 416) {
    // Refused as the folder's @fastify/send refuses: the error page (or JSON), with the object
    // store's headers (a 416's Content-Range says where the file ends).
    reply.headers(read.headers)
    throw new HttpError(read.status, read.status === 416 ? RANGE_NOT_SATISFIABLE : PRECONDITION_FAILED)
  }
  reply.code(read.status).headers(read.headers)
  if (read.status === 200 || read.status === 206) reply.headers(options.headers)
  // Fastify's HEAD route keeps a Content-Length only when the payload is a stream.
  if (request.method === 'HEAD') return await reply.send(Readable.from([]))
  return await reply.send(read.body ?? undefined)
}

/**
 * The one way a PDF is sent, by the library route and by emailed links alike: the missing-file
 * check, the download log and DOWNLOAD_LIMIT (a GET is recorded before its bytes go out; a HEAD
 * only looks), then the bytes as an attachment named after the slug, with Range (206/416), HEAD,
 * ETag and Last-Modified, by whoever DOWNLOAD_OFFLOAD names: the app (@fastify/send for the
 * folder, the object store's answer passed through for a bucket), nginx (X-Accel-Redirect) or the
 * object store itself (a 302 to a presigned URL).
 */
export function pdfSender (app: FastifyInstance) {
  const { files, downloads, settings, config } = app

  return async function sendPdf (request: FastifyRequest, reply: FastifyReply, content: Content, file: PdfFile, who: Downloader): Promise<FastifyReply> {
    if (!await files.exists(file.key)) {
      request.log.error({ slug: content.slug, key: file.key }, 'a stored file of this item is missing from CONTENT_DIR')
      throw new HttpError(503, MISSING_PDF)
    }
    const refuse = async (): Promise<never> => { throw new DownloadLimitReached(who.limit, (await settings.fresh()).contactEmail) }
    const server: RangeServer = files.kind === 's3' ? 's3' : config.downloadOffload === 'x-accel' ? 'nginx' : 'send'
    /**
     * The Range the answer will honour: none when an If-Range names another state of the file,
     * since the whole file then goes out, and is counted (and refused past the limit) as such.
     */
    const rangeHonoured = async (): Promise<string | undefined> => {
      const { range } = request.headers
      const ifRange = request.headers['if-range']
      if (range === undefined || ifRange === undefined) return range
      if (typeof ifRange !== 'string') return undefined
      const validators = await files.validators(file.key)
      return validators !== undefined && ifRangeHolds(ifRange, validators, server) ? range : undefined
    }
    if (request.method === 'HEAD') {
      if (who.limit > 0 && who.orderId !== null && await downloads.count(who.orderId, content.id) >= who.limit) await refuse()
    } else {
      const outcome = await downloads.record({
        ...who,
        content,
        version: file.version,
        range: await rangeHonoured(),
        size: file.size,
        address: request.ip,
        userAgent: (request.headers['user-agent'] ?? '').slice(0, 500)
      })
      if (!outcome.allowed) await refuse()
      // Recorded before the answer, so the limit is checked and counted in one transaction; an
      // answer that sends no body (304 to If-None-Match, 412, 416) takes it back.
      reply.raw.once('finish', () => {
        if (reply.statusCode === 304 || reply.statusCode === 412 || reply.statusCode === 416) {
          downloads.cancel(outcome).catch((error: unknown) => { request.log.error({ err: error }, 'could not take back a download that sent nothing') })
        }
      })
    }
    reply.header('cache-control', 'private')
    reply.header('x-content-type-options', 'nosniff')
    if (files.kind === 'folder') {
      if (config.downloadOffload === 'x-accel') {
        // nginx serves the file from its `internal` location (Range, HEAD and conditionals
        // included); this answer's body is never sent to the client.
        reply.header('x-accel-redirect', `${config.xAccelPrefix}${file.key}`)
        reply.header('content-type', 'application/pdf')
        reply.header('content-disposition', attachment(file.name))
        return await reply.code(200).send('')
      }
      // (`root` is accepted by download() though its type does not list it.)
      return await reply.download(file.key, file.name, { root: files.dir, cacheControl: false } as SendOptions)
    }
    // A presigned URL answers GET only: a HEAD is answered here.
    if (config.downloadOffload === 'redirect' && request.method === 'GET') {
      const url = await files.presign(file.key, { fileName: file.name, contentType: 'application/pdf', seconds: PRESIGNED_SECONDS })
      // The URL is a 60-second bearer token: no cache may keep it.
      reply.header('cache-control', 'no-store')
      return reply.redirect(url, 302)
    }
    return await sendObject(request, reply, files, file.key, {
      missing: MISSING_PDF,
      headers: { 'content-type': 'application/pdf', 'content-disposition': attachment(file.name) }
    })
  }
}
