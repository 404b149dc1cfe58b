import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { OAuthConfig } from '../../config.js'
import { localPath } from '../../http/auth.js'
import { HttpError } from '../../http/errors.js'
import emailSignInRoutes from './email-routes.js'
import type { SignInProfile } from './users.js'

interface Claims { sub?: unknown, id?: unknown, email?: unknown, email_verified?: unknown, name?: unknown, login?: unknown }

const text = (value: unknown): string | null => typeof value === 'string' && value.trim() !== '' ? value.trim() : null

async function getJson (url: string, accessToken: string): Promise<unknown> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json', 'user-agent': 'pdf-marketplace' },
    signal: AbortSignal.timeout(10_000)
  })
  if (!response.ok) throw new Error(`${url} answered ${response.status}`)
  return await response.json()
}

const GITHUB_API = 'https://api.github.com'
const GOOGLE_USERINFO = 'https://openidconnect.googleapis.com/v1/userinfo'

/** Who signed in, from the provider's userinfo (OIDC, Google) or user API (GitHub). */
async function fetchProfile (oauth: OAuthConfig, accessToken: string, userinfo: () => Promise<object>): Promise<SignInProfile> {
  let claims: Claims
  if (oauth.provider === 'github') {
    const api = oauth.endpoints?.apiBaseUrl ?? GITHUB_API
    const user = await getJson(`${api}/user`, accessToken) as Claims
    const emails = await getJson(`${api}/user/emails`, accessToken) as Array<{ email: string, primary: boolean, verified: boolean }>
    // The primary address alone, with its own verified flag: anyone can add an unverified address,
    // and a secondary one is not the address the person chose; it must not make an admin.
    const primary = Array.isArray(emails) ? emails.find((email) => email.primary === true) : undefined
    // A missing id must fail below ("no subject"), not become the subject "undefined".
    const id = typeof user.id === 'number' || typeof user.id === 'string' ? String(user.id) : undefined
    claims = { sub: id, email: primary?.email, email_verified: primary?.verified === true, name: text(user.name) ?? text(user.login) }
  } else if (oauth.provider === 'google') {
    claims = await getJson(oauth.endpoints?.userinfoUrl ?? GOOGLE_USERINFO, accessToken) as Claims
  } else {
    claims = await userinfo() as Claims
  }
  const subject = text(claims.sub)
  if (subject === null) throw new Error('the provider did not say who signed in (no subject)')
  return {
    provider: oauth.provider === 'oidc' ? `oidc:${oauth.issuer!}` : oauth.provider,
    subject,
    email: text(claims.email),
    // Some providers send the flag as a string.
    emailVerified: claims.email_verified === true || claims.email_verified === 'true',
    name: text(claims.name)
  }
}

const PROVIDER_LABELS = { github: 'GitHub', google: 'Google', oidc: 'your organisation\'s account' } as const

/**
 * Sign-in and sign-out. With a provider alone, GET /login redirects to it; with email sign-in on,
 * GET /login is a page offering both (email-routes.ts), the provider at GET /login/<provider>.
 */
const authRoutes: FastifyPluginAsync = async (app) => {
  const { config } = app
  const oauth = config.oauth

  app.post('/logout', async (request, reply) => {
    const sessionId = request.session.get('sid')
    if (typeof sessionId === 'string') await app.users.endSession(sessionId)
    request.session.delete()
    return reply.redirect('/', 303)
  })

  const providerPath = oauth === null ? null : `/login/${oauth.provider}`
  if (config.emailSignIn) {
    const label = oauth === null ? null : config.demo !== null ? 'the demo identity provider' : PROVIDER_LABELS[oauth.provider]
    await app.register(emailSignInRoutes, { provider: providerPath === null || label === null ? null : { href: providerPath, label } })
  }
  if (oauth === null) return

  // To the provider: state, PKCE where it supports it, and `next` kept for the way back.
  const toProvider = async (request: FastifyRequest<{ Querystring: { next?: unknown } }>, reply: FastifyReply): Promise<FastifyReply> => {
    request.session.set('next', localPath(request.query.next) ?? '/')
    const uri = await app.oauth.generateAuthorizationUri(request, reply)
    return await reply.redirect(uri)
  }
  if (!config.emailSignIn) app.get<{ Querystring: { next?: unknown } }>('/login', { config: { rateLimited: true } }, toProvider)
  app.get<{ Querystring: { next?: unknown } }>(providerPath!, { config: { rateLimited: true } }, toProvider)

  app.get<{ Querystring: { error?: unknown } }>('/login/callback', { config: { rateLimited: true } }, async (request, reply) => {
    const query = request.query
    if (query.error !== undefined) {
      throw new HttpError(400, 'Sign-in was cancelled or refused by the provider. You can try again from the Sign in link.')
    }
    let accessToken: string
    try {
      // Passing reply clears the state and PKCE verifier cookies, so a state cannot be replayed.
      const { token } = await app.oauth.getAccessTokenFromAuthorizationCodeFlow(request, reply)
      accessToken = token.access_token
    } catch (error) {
      request.log.warn({ err: error }, 'sign-in callback rejected')
      throw new HttpError(400, 'Sign-in could not be completed (the link was stale or used twice). Please sign in again.')
    }
    let profile: SignInProfile
    try {
      profile = await fetchProfile(oauth, accessToken, async () => await app.oauth.userinfo(accessToken))
    } catch (error) {
      request.log.error({ err: error }, 'could not read the signed-in user from the provider')
      throw new HttpError(502, 'The sign-in provider did not tell us who you are. Please try again in a moment.')
    }
    // The account of the verified address, whichever way it signs in (see linking.ts).
    const { user, claimed } = await app.users.signIn(profile)
    if (claimed > 0) request.log.info({ userId: user.id, orders: claimed }, 'guest purchases of the verified address moved to the account')
    const next = localPath(request.session.get('next')) ?? '/'
    // A fresh session at sign-in: nothing from before (a planted CSRF secret, say) carries over.
    request.session.regenerate()
    request.session.set('sid', await app.users.startSession(user.id))
    request.flash('info', `Signed in as ${user.name ?? user.email ?? 'you'}.`)
    if (claimed > 0) request.flash('info', `${claimed === 1 ? 'A purchase' : `${claimed} purchases`} made with ${user.email!} without an account ${claimed === 1 ? 'is' : 'are'} now in your library.`)
    request.log.info({ userId: user.id, admin: user.is_admin === 1 }, 'signed in')
    return reply.redirect(next)
  })
}
export default authRoutes
