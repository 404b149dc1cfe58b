import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { localPath } from '../../http/auth.js'
import { HttpError } from '../../http/errors.js'
import { EMAIL } from '../settings/plugin.js'
import { SIGN_IN_MINUTES, type TokenState } from './email-sign-in.js'
import type { LoginPage } from './pages.js'

const MAX_EMAIL = 254
const tokenParams = { type: 'object', properties: { token: { type: 'string', maxLength: 200 } }, required: ['token'] } as const
const STATUS_OF: Record<Exclude<TokenState, 'valid'>, number> = { used: 410, expired: 410, invalid: 404 }
const TITLE_OF: Record<Exclude<TokenState, 'valid'>, string> = { used: 'This link was already used', expired: 'This link has expired', invalid: 'This link does not work' }

/**
 * Sign-in by email: POST /login/email mails a link, GET /login/email/<token> shows a button and
 * POST /login/email/<token> signs in. Registered only when email sign-in is on.
 */
const emailSignInRoutes: FastifyPluginAsync<{ provider: LoginPage['provider'] }> = async (app, { provider }) => {
  const { emailSignIn, outbox, users } = app

  async function loginPage (reply: FastifyReply, page: Omit<LoginPage, 'minutes' | 'provider'>, status = 200): Promise<FastifyReply> {
    return await reply.page('pages/login.eta', { title: page.sent ? 'Check your email' : 'Sign in', ...page, minutes: SIGN_IN_MINUTES, provider }, { status, csrf: true })
  }

  app.get<{ Querystring: { next?: unknown } }>('/login', async (request, reply) =>
    await loginPage(reply, { email: '', next: localPath(request.query.next) ?? '/', problem: null, sent: false }))

  app.post<{ Body: { email?: string, next?: string } }>('/login/email', {
    config: { rateLimited: true },
    schema: { body: { type: 'object', properties: { email: { type: 'string', maxLength: 1000 }, next: { type: 'string', maxLength: 2000 } } } }
  }, async (request, reply) => {
    const email = (request.body?.email ?? '').trim()
    const next = localPath(request.body?.next) ?? '/'
    if (email.length > MAX_EMAIL || !EMAIL.test(email)) {
      return await loginPage(reply, { email: email.slice(0, MAX_EMAIL), next, problem: 'Type your email address, like you@example.com.', sent: false }, 400)
    }
    const started = await emailSignIn.start(email, next, request.ip)
    if (started.outcome === 'client-limited') {
      throw new HttpError(429, `Too many sign-in links were asked for from your address. Please wait ${SIGN_IN_MINUTES} minutes and try again.`)
    }
    if (started.outcome === 'queued') await outbox.queueSignIn(email, started.id)
    // No address and no token in the log: the outcome is enough to see the form work (and be abused).
    request.log.info({ outcome: started.outcome }, 'sign-in link asked for')
    // The same page whether the address is known, new, or had too many links already.
    return await loginPage(reply, { email, next, problem: null, sent: true })
  })

  async function linkPage (request: FastifyRequest, reply: FastifyReply, state: TokenState): Promise<FastifyReply> {
    if (state === 'valid') return await reply.page('pages/login-email.eta', { title: 'Sign in', state, status: 200 }, { csrf: true })
    return await reply.page('pages/login-email.eta', { title: TITLE_OF[state], state, status: STATUS_OF[state] }, { status: STATUS_OF[state] })
  }

  // A GET changes nothing: mail scanners and link previews fetch links, and must not use them up.
  app.get<{ Params: { token: string } }>('/login/email/:token', { schema: { params: tokenParams } }, async (request, reply) =>
    await linkPage(request, reply, await emailSignIn.state(request.params.token)))

  app.post<{ Params: { token: string } }>('/login/email/:token', {
    config: { rateLimited: true },
    schema: { params: tokenParams }
  }, async (request, reply) => {
    const used = await emailSignIn.use(request.params.token)
    if ('failed' in used) {
      request.log.info({ outcome: used.failed }, 'sign-in link refused')
      return await linkPage(request, reply, used.failed)
    }
    const { user, claimed } = await users.signIn({ provider: 'email', subject: used.email, email: used.email, emailVerified: true, name: null })
    // A fresh session at sign-in: nothing from before (a planted CSRF secret, say) carries over.
    request.session.regenerate()
    request.session.set('sid', await users.startSession(user.id))
    request.flash('info', `Signed in as ${user.name ?? user.email ?? 'you'}.`)
    if (claimed > 0) request.flash('info', `${claimed === 1 ? 'A purchase' : `${claimed} purchases`} made with ${user.email!} without an account ${claimed === 1 ? 'is' : 'are'} now in your library.`)
    request.log.info({ userId: user.id, admin: user.is_admin === 1, via: 'email' }, 'signed in')
    return await reply.redirect(localPath(used.next) ?? '/', 303)
  })
}
export default emailSignInRoutes
