import type { FastifyPluginAsync } from 'fastify'
import auth from './plugins/app/auth.js'
import { htmlErrors } from './plugins/app/errors.js'
import page from './plugins/app/page.js'
import pageCache, { personalNoStore } from './plugins/app/page-cache.js'
import csrf from './plugins/external/csrf.js'
import flash from './plugins/external/flash.js'
import formbody from './plugins/external/formbody.js'
import helmet from './plugins/external/helmet.js'
import oauth2 from './plugins/external/oauth2.js'
import rateLimit from './plugins/external/rate-limit.js'
import session from './plugins/external/session.js'
import staticFiles from './plugins/external/static.js'
import view from './plugins/external/view.js'
import adminRoutes from './routes/admin.js'
import authRoutes from './routes/auth.js'
import catalogRoutes from './routes/catalog.js'
import checkoutRoutes from './routes/checkout.js'
import devMailRoutes from './routes/dev-mail.js'
import downloadLinkRoutes from './routes/download-links.js'
import libraryRoutes from './routes/library.js'
import linksRoutes from './routes/links.js'
import policiesRoutes from './routes/policies.js'

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
  await app.register(libraryRoutes)
  await app.register(downloadLinkRoutes)
  await app.register(policiesRoutes)
  await app.register(linksRoutes)
  // The demo's mail catcher: only in development, only while it runs (404 otherwise).
  if (!app.config.production && app.mailCatcher !== null) await app.register(devMailRoutes, { catcher: app.mailCatcher })
  await app.register(adminRoutes, { prefix: '/admin' })
  await app.register(checkoutRoutes, { prefix: '/checkout' })
}
export default site
