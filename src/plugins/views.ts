import fastifyStatic from '@fastify/static'
import view from '@fastify/view'
import { Eta } from 'eta'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { publicDir, viewsDir } from '../paths.js'
import { formatPrice } from '../services/money.js'
import { ensurePageLocals, wantsJson } from './errors.js'

export interface PageLocals {
  user: { id: number, name: string | null, email: string | null, isAdmin: boolean } | null
  csrfToken: string | null
  flash: { info: string[], error: string[] }
  demo: { stripeDashboardUrl: string | null } | null
  path: string
}

/** The layout every page is rendered in, and what every template can call. */
export const LAYOUT = 'layout.eta'
export const viewContext = { formatPrice }

declare module 'fastify' {
  interface FastifyInstance {
    /** The engine behind reply.viewAsync, for a route that renders a part once and reuses it. */
    eta: Eta
  }
  interface FastifyReply {
    locals?: Partial<PageLocals> & Record<string, unknown>
  }
}

const noFlash = { info: [], error: [] }

/**
 * The pending flash messages, removed from the session. Reading them with reply.flash() writes
 * the session even when there are none, which re-encrypts it and sends a Set-Cookie on every
 * page (anonymous visitors included): only sessions that hold messages are touched.
 */
function takeFlash (request: FastifyRequest, reply: FastifyReply): PageLocals['flash'] {
  const pending = request.session.get('flash') as Record<string, unknown> | undefined
  if (pending === undefined || pending === null || Object.keys(pending).length === 0) return noFlash
  return { info: reply.flash('info') as string[], error: reply.flash('error') as string[] }
}

export default fp(async function views (app) {
  const { config } = app
  await app.register(fastifyStatic, {
    root: publicDir,
    prefix: '/public/',
    // Stylesheets and images are small and change only with a deploy.
    maxAge: config.production ? '1d' : 0
  })

  const eta = new Eta({ autoEscape: true, cache: true, views: viewsDir })
  app.decorate('eta', eta)
  await app.register(view, {
    engine: { eta },
    root: viewsDir,
    layout: LAYOUT,
    // Caches compiled templates; off only when a developer edits templates with `npm run dev`.
    production: process.env.VIEW_CACHE !== 'off',
    defaultContext: viewContext
  })

  // What every page's layout needs: who is signed in, their CSRF token (for the sign-out form)
  // and any flash message. Only for pages: JSON routes and static files skip it.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'GET' || wantsJson(request) || request.url.startsWith('/public/')) return
    ensurePageLocals(request, reply)
    // A page view shows (and so uses up) the flash messages; an error page leaves them for later.
    reply.locals = { ...reply.locals, flash: takeFlash(request, reply) }
  })
}, { name: 'views', dependencies: ['security'] })
