import fp from 'fastify-plugin'
import { createDownloads, type Downloads } from './downloads.js'
import { createLinks, type Links } from './links.js'

export { type DownloadLogRow, downloadsOfOrder, type Downloads, type OrderKey } from './downloads.js'
export type { LinkCheck, Links } from './links.js'
export { sendObject } from './send-pdf.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The download log, and DOWNLOAD_LIMIT's count (all Range requests of one download count once). */
    downloads: Downloads
    /** Signed, expiring download links for receipts and guests. */
    links: Links
  }
}

/** Getting bought PDFs to their readers: the download log and limit, and signed download links. */
export default fp(async function delivery (app) {
  const { config, database } = app
  app.decorate('downloads', createDownloads({ db: database.db, runner: database.runner }))
  app.decorate('links', createLinks({ secret: config.sessionSecret, publicUrl: config.publicUrl, days: config.downloadLinkDays }))
}, { name: 'delivery', dependencies: ['database'] })
