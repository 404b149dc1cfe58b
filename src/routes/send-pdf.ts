import type { SendOptions } from '@fastify/static'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Content, DownloadVia } from '../db/types.js'
import { HttpError } from '../plugins/app/errors.js'

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

/**
 * The one way a PDF is sent, by the library route and by emailed links alike: the missing-file
 * check, the download log and DOWNLOAD_LIMIT (a GET is recorded before its bytes go out; a HEAD
 * only looks), then @fastify/send with Range (206/416), HEAD, ETag and Last-Modified, as an
 * attachment named after the slug.
 */
export function pdfSender (app: FastifyInstance) {
  const { files, downloads, settings } = app

  return async function sendPdf (request: FastifyRequest, reply: FastifyReply, content: Content, file: PdfFile, who: Downloader): Promise<FastifyReply> {
    if (!await files.exists(file.key)) {
      request.log.error({ slug: content.slug, key: file.key }, 'a stored file of this item is missing from CONTENT_DIR')
      throw new HttpError(503, MISSING_PDF)
    }
    const refuse = (): never => { throw new DownloadLimitReached(who.limit, settings.current().contactEmail) }
    if (request.method === 'HEAD') {
      if (who.limit > 0 && who.orderId !== null && await downloads.count(who.orderId) >= who.limit) refuse()
    } else {
      const outcome = await downloads.record({
        ...who,
        content,
        version: file.version,
        range: request.headers.range,
        size: file.size,
        address: request.ip,
        userAgent: (request.headers['user-agent'] ?? '').slice(0, 500)
      })
      if (!outcome.allowed) refuse()
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
    // (`root` is accepted by download() though its type does not list it.)
    return await reply.download(file.key, file.name, { root: files.dir, cacheControl: false } as SendOptions)
  }
}
