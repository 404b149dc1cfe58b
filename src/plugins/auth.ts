import oauth2, { type FastifyOAuth2Options, type OAuth2Namespace, type ProviderConfiguration } from '@fastify/oauth2'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { OAuthConfig } from '../config.js'
import type { User } from '../db/types.js'
import { HttpError } from './errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    oauth: OAuth2Namespace
    /** Area guard: anonymous visitors are sent to sign in and brought back. */
    requireUser: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
    /** Area guard: anonymous visitors sign in; signed-in non-admins get 403. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>
  }
  interface FastifyRequest {
    user: User | null
  }
}

/** A path on this site, or undefined: `next` must never send a person elsewhere. */
export function localPath (candidate: unknown): string | undefined {
  if (typeof candidate !== 'string' || candidate.length > 2000) return undefined
  // Reject protocol-relative (//host), backslash tricks (/\host) and control characters.
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

// The presets exist on the plugin function at run time; its type declaration does not show them.
const presets = oauth2 as unknown as Record<'GITHUB_CONFIGURATION' | 'GOOGLE_CONFIGURATION', ProviderConfiguration>

/** The preset's hosts and paths, or the ones a test set on the config (see OAuthConfig.endpoints). */
function endpointsOf (oauth: OAuthConfig, preset: ProviderConfiguration): ProviderConfiguration {
  const own = oauth.endpoints
  if (own === undefined) return preset
  // Only simple-oauth2's keys: it rejects unknown ones such as apiBaseUrl.
  return {
    authorizeHost: own.authorizeHost,
    authorizePath: own.authorizePath ?? preset.authorizePath,
    tokenHost: own.tokenHost,
    tokenPath: own.tokenPath ?? preset.tokenPath
  }
}

function providerOptions (oauth: OAuthConfig): Partial<FastifyOAuth2Options> {
  const client = { id: oauth.clientId, secret: oauth.clientSecret }
  switch (oauth.provider) {
    case 'github':
      return { scope: ['read:user', 'user:email'], pkce: 'S256', credentials: { client, auth: endpointsOf(oauth, presets.GITHUB_CONFIGURATION) } }
    case 'google':
      return { scope: ['openid', 'email', 'profile'], pkce: 'S256', credentials: { client, auth: endpointsOf(oauth, presets.GOOGLE_CONFIGURATION) } }
    case 'oidc':
      // Discovery fills in the endpoints and picks PKCE S256 when the provider advertises it.
      return { scope: ['openid', 'email', 'profile'], discovery: { issuer: oauth.issuer! }, credentials: { client } }
  }
}

export default fp(async function auth (app) {
  const { config } = app
  const secureOrigin = config.publicUrl.startsWith('https:')
  await app.register(oauth2, {
    name: 'oauth',
    ...providerOptions(config.oauth),
    callbackUri: `${config.publicUrl}/login/callback`,
    // __Host- cookies cannot be planted by a sibling subdomain; they need HTTPS in the browser.
    hostPrefixedCookies: secureOrigin,
    cookie: { path: '/', httpOnly: true, sameSite: 'lax', secure: secureOrigin || config.production }
  } as FastifyOAuth2Options)

  app.decorateRequest('user', null)
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/public/') || request.url.startsWith('/webhooks/')) return
    const sessionId = request.session.get('sid')
    if (typeof sessionId === 'string') request.user = app.users.bySession(sessionId) ?? null
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
}, { name: 'auth', dependencies: ['security', 'services'] })
