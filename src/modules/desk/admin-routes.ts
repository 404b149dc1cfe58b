import type { FastifyPluginAsync } from 'fastify'
import multipart from '../../http/plugins/multipart.js'
import { audienceAdminRoutes } from '../audience/plugin.js'
import { adminItemRoutes, MAX_PREVIEW_BYTES } from '../items/plugin.js'
import { adminPdfRoutes } from '../pdf/plugin.js'
import { settingsRoutes } from '../settings/plugin.js'
import adminSalesRoutes from './routes.js'

/** Everything under /admin: one guard (admins only) and multipart for the upload forms. */
const adminRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.requireAdmin)
  await app.register(multipart, { maxFileBytes: Math.max(app.config.maxUploadBytes, MAX_PREVIEW_BYTES) })
  // Dashboard, orders, refunds, CSV and customers: inside this plugin, so behind the same guard.
  await app.register(adminSalesRoutes)
  // The items: upload, list, edit, publish, delete (behind the same guard).
  await app.register(adminItemRoutes)
  await app.register(settingsRoutes)
  // Trace a stamped copy back to its order.
  await app.register(adminPdfRoutes)
  // The customers export and messages to an item's buyers.
  await app.register(audienceAdminRoutes)
}
export default adminRoutes
