import fp from 'fastify-plugin'
import { createDownloads, type Downloads } from './downloads.js'

declare module 'fastify' {
  interface FastifyInstance {
    downloads: Downloads
  }
}

/** The download log, and DOWNLOAD_LIMIT's count (all Range requests of one download count once). */
export default fp(async function downloads (app) {
  app.decorate('downloads', createDownloads({ db: app.database.db, runner: app.database.runner }))
}, { name: 'downloads', dependencies: ['database'] })
