import fp from 'fastify-plugin'
import { createLinks, type Links } from './links.js'

declare module 'fastify' {
  interface FastifyInstance {
    links: Links
  }
}

/** Signed, expiring download links for receipts and guests. */
export default fp(async function links (app) {
  const { config } = app
  app.decorate('links', createLinks({ secret: config.sessionSecret, publicUrl: config.publicUrl, days: config.downloadLinkDays }))
}, { name: 'links' })
