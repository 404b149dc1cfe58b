import fp from 'fastify-plugin'
import { createItems, type Items } from './items.js'

export type { EditFields, EditProblems, EditResult, PaymentLink, PaymentLinkLookup } from './edit.js'
export type { Items, ItemsPage, ItemSummary, Reconciliation } from './items.js'
/** The items' admin pages (upload, list, edit, publish, delete): registered under /admin, behind its guard. */
export { default as adminItemRoutes } from './routes.js'
export { type ContentFields, type ContentProblems, type FormEntry, MAX_PREVIEW_BYTES, type UploadResult } from './uploads.js'
export type { VersionSummary } from './versions.js'

declare module 'fastify' {
  interface FastifyInstance {
    items: Items
  }
}

/**
 * The creator's items and their stored files: uploads, edits, versions, publishing, deleting.
 * At start, the store's leftovers and gaps are reported.
 */
export default fp(async function items (app) {
  const { config, database, files } = app
  const { pdf } = app
  const service = createItems({ db: database.db, runner: database.runner, files, currency: config.currency, maxUploadBytes: config.maxUploadBytes, pdf })
  const found = await service.reconcile()
  if (found.temporary > 0) app.log.warn({ files: found.temporary }, 'removed temporary files of interrupted uploads')
  for (const { slug, key } of found.missing) {
    app.log.error({ slug, key }, 'a stored file of this item is missing from CONTENT_DIR: its page will say so and /healthz answers degraded')
  }
  app.decorate('items', service)
}, { name: 'items', dependencies: ['database', 'files', 'pdf'] })
