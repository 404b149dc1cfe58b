import { pdfRoutes } from './modules/pdf/plugin.js'
import type { FastifyPluginAsync } from 'fastify'
import auth from './http/auth.js'
import { htmlErrors } from './http/errors.js'
import page from './http/page.js'
import pageCache, { personalNoStore } from './http/page-cache.js'
import csrf from './http/plugins/csrf.js'
import flash from './http/plugins/flash.js'
import formbody from './http/plugins/formbody.js'
import helmet from './http/plugins/helmet.js'
import oauth2 from './http/plugins/oauth2.js'
import rateLimit from './http/plugins/rate-limit.js'
import session from './http/plugins/session.js'
import staticFiles from './http/plugins/static.js'
import view from './http/plugins/view.js'
import adminRoutes from './modules/desk/admin-routes.js'
import { audienceRoutes } from './modules/audience/plugin.js'
import authRoutes from './modules/accounts/routes.js'
import catalogRoutes from './modules/catalog/routes.js'
import { cartRoutes } from './modules/cart/plugin.js'
import checkoutRoutes from './modules/purchase/checkout-routes.js'
import devMailRoutes from './modules/mail/dev-mail-routes.js'
import downloadRoutes from './modules/delivery/routes.js'
import libraryRoutes from './modules/library/routes.js'
import linksRoutes from './modules/delivery/links-request-routes.js'
import policiesRoutes from './modules/settings/policies-routes.js'

/** The site for people: pages, forms, sign-in, static files; HTML errors. */
const site: FastifyPluginAsync = async (app) => {
  // Third-party plugins, each with its options in its own file.
  await app.register(helmet)
  // Before the session: a kept page for a visitor without cookies costs no session work.
  await app.register(pageCache)
  await app.register(formbody)
  await app.register(session)
  await app.register(flash)
  await app.register(csrf)
  await app.register(rateLimit)
  await app.register(staticFiles)
  await app.register(view)
  await app.register(oauth2)

  // The site's own: who is signed in, the one page renderer, error pages.
  await app.register(auth)
  await app.register(page)
  await app.register(htmlErrors)
  // Personal answers (signed in, or setting a cookie) are private, no-store: one hook for the
  // whole site, after the session and cookie plugins whose onSend hooks write Set-Cookie.
  app.addHook('onSend', personalNoStore)

  await app.register(authRoutes)
  await app.register(catalogRoutes)
  await app.register(pdfRoutes)
  await app.register(libraryRoutes)
  await app.register(downloadRoutes)
  await app.register(policiesRoutes)
  await app.register(linksRoutes)
  await app.register(audienceRoutes)
  // The demo's mail catcher: only in development, only while it runs (404 otherwise).
  if (!app.config.production && app.mailCatcher !== null) await app.register(devMailRoutes, { catcher: app.mailCatcher })
  await app.register(adminRoutes, { prefix: '/admin' })
  await app.register(checkoutRoutes, { prefix: '/checkout' })
  await app.register(cartRoutes, { prefix: '/cart' })
}
export default site
