import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { User } from '../db/types.js'
import { HttpError } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Area guard: anonymous visitors are sent to sign in and brought back. */
    requireUser: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
    /** Area guard: anonymous visitors sign in; signed-in non-admins get 403. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
  }
  interface FastifyRequest {
    /** The signed-in user, read when the request comes in (see the onRequest hook below). */
    readonly user: User | null
  }
}

/** A path on this site, or undefined: `next` must never send a person elsewhere. */
export function localPath (candidate: unknown): string | undefined {
  if (typeof candidate !== 'string' || candidate.length > 2000) return undefined
  // Reject protocol-relative (//host), backslash tricks (/\host) and control characters.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (!/^\/(?![/\\])/.test(candidate) || /[\u0000-\u001f\u007f\\]/.test(candidate)) return undefined
  const base = 'http://local.invalid'
  try {
    const url = new URL(candidate, base)
    if (url.origin !== base) return undefined
    // Normalising can make a protocol-relative path of a harmless one (/.//evil.com -> //evil.com).
    const path = url.pathname + url.search + url.hash
    return /^\/(?![/\\])/.test(path) ? path : undefined
  } catch {
    return undefined
  }
}

export function loginUrl (next: string): string {
  return `/login?next=${encodeURIComponent(next)}`
}

const kUser = Symbol('user')

/** Who is signed in (the session's sign-in row), and the guards of the signed-in areas. */
export default fp(async function auth (app) {
  const { config, users } = app

  app.decorateRequest(kUser, null)
  app.decorateRequest('user', {
    getter (this: FastifyRequest & { [kUser]?: User | null }): User | null {
      return this[kUser] ?? null
    }
  })
  // Read before anything else runs (guards, handlers, the error page's layout): a query is
  // asynchronous now, so it cannot wait for the first use. A visitor who is not signed in costs nothing.
  app.addHook('onRequest', async (request) => {
    const sessionId = request.session.get('sid')
    // A cacheable page's stamp, read when the request came in, serves for the user as well.
    if (typeof sessionId === 'string') (request as FastifyRequest & { [kUser]?: User | null })[kUser] = await users.bySession(sessionId, new Date(), request.pageStamp ?? undefined) ?? null
  })

  function redirectToLogin (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    // After signing in, come back to the page: for a form POST that is the page the form was on.
    const referer = request.headers.referer
    const back = request.method === 'GET'
      ? request.url
      : referer !== undefined && referer.startsWith(config.publicUrl + '/') ? referer.slice(config.publicUrl.length) : '/'
    return reply.redirect(loginUrl(localPath(back) ?? '/'), request.method === 'GET' ? 302 : 303)
  }
  app.decorate('requireUser', async function requireUser (request: FastifyRequest, reply: FastifyReply) {
    if (request.user === null) return redirectToLogin(request, reply)
  })
  app.decorate('requireAdmin', async function requireAdmin (request: FastifyRequest, reply: FastifyReply) {
    if (request.user === null) return redirectToLogin(request, reply)
    if (request.user.is_admin !== 1) throw new HttpError(403, 'This page is for administrators. Sign in with an admin account to use it.')
  })
}, { name: 'auth', dependencies: ['session', 'users', 'page-cache'] })
