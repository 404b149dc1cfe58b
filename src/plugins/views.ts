import fastifyStatic from '@fastify/static'
import view from '@fastify/view'
import { Eta } from 'eta'
import fp from 'fastify-plugin'
import { publicDir, viewsDir } from '../paths.js'
import { formatPrice } from '../services/money.js'
import { wantsJson } from './errors.js'

export interface PageLocals {
  user: { id: number, name: string | null, email: string | null, isAdmin: boolean } | null
  csrfToken: string | null
  flash: { info: string[], error: string[] }
  demo: { stripeDashboardUrl: string | null } | null
  path: string
}

declare module 'fastify' {
  interface FastifyReply {
    locals?: Partial<PageLocals> & Record<string, unknown>
  }
}

export default fp(async function views (app) {
  const { config } = app
  await app.register(fastifyStatic, {
    root: publicDir,
    prefix: '/public/',
    // Stylesheets and images are small and change only with a deploy.
    maxAge: config.production ? '1d' : 0
  })

  await app.register(view, {
    engine: { eta: new Eta({ autoEscape: true, cache: true }) },
    root: viewsDir,
    layout: 'layout.eta',
    // Caches compiled templates; off only when a developer edits templates with `npm run dev`.
    production: process.env.VIEW_CACHE !== 'off',
    defaultContext: { formatPrice }
  })

  // What every page's layout needs: who is signed in, their CSRF token (for the sign-out form)
  // and any flash message. Only for pages: JSON routes and static files skip it.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'GET' || wantsJson(request) || request.url.startsWith('/public/')) return
    const user = request.user
    reply.locals = {
      ...reply.locals,
      user: user === null ? null : { id: user.id, name: user.name, email: user.email, isAdmin: user.is_admin === 1 },
      csrfToken: user === null ? null : reply.generateCsrf(),
      flash: { info: reply.flash('info') as string[], error: reply.flash('error') as string[] },
      demo: config.demo,
      path: request.url
    }
  })
}, { name: 'views', dependencies: ['security'] })
