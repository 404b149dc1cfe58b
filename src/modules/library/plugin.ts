import fp from 'fastify-plugin'
import { createLibrary, type Library } from './library.js'

export type { Library, LibraryEntry } from './library.js'

declare module 'fastify' {
  interface FastifyInstance {
    library: Library
  }
}

/** A reader's library: bought, refunded and free items, each saying whether a new version came out. */
export default fp(async function library (app) {
  app.decorate('library', createLibrary({ db: app.database.db, runner: app.database.runner }))
}, { name: 'library', dependencies: ['database'] })
