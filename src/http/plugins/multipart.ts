import multipart from '@fastify/multipart'
import fp from 'fastify-plugin'

export interface MultipartOptions {
  /** The largest file any upload route takes (the PDF's limit or the cover's, whichever is larger). */
  maxFileBytes: number
}

/** Uploads: a PDF and its cover, streamed to the file store. */
export default fp<MultipartOptions>(async function multipartPlugin (app, options) {
  await app.register(multipart, {
    // The file store refuses each kind of file past its own limit while it streams (nothing more
    // is written); this outer cut-off only bounds what is read, and flags the stream truncated
    // instead of throwing, so the answer is the form with its message (400), not a bare 413.
    throwFileSizeLimit: false,
    limits: {
      fileSize: options.maxFileBytes + 1,
      files: 2,
      fields: 10,
      parts: 12,
      fieldSize: 64 * 1024,
      headerPairs: 100
    }
  })
}, { name: 'multipart' })
