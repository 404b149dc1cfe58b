import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import formbody from '@fastify/formbody'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import type { OAuthEndpoints } from '../../src/config.js'

/**
 * Small stand-ins for GitHub and Google, served at the paths of @fastify/oauth2's presets so the
 * app's provider code runs unchanged, only with the hosts pointed here (OAuthConfig.endpoints).
 * Like the real ones they refuse a wrong client secret, an unknown or reused code, a changed
 * redirect_uri and a PKCE verifier that does not match the challenge.
 */

export interface GitHubEmail { email: string, primary: boolean, verified: boolean }
export interface GitHubAccount { id: number, login: string, name: string | null, emails: GitHubEmail[] }
export interface GoogleAccount { sub: string, email: string, email_verified: boolean, name: string }

export interface FakeProvider<Account> {
  url: string
  /** What to set as config.oauth.endpoints. */
  endpoints: OAuthEndpoints
  /** Who the next authorize request signs in. */
  account: Account
  /** When set, the user API answers this status instead of the account. */
  userApiStatus?: number
  /** Successful token exchanges (each one proved the client secret and the PKCE verifier). */
  tokensIssued: number
  close(): Promise<void>
}

interface Grant { account: unknown, challenge: string, redirectUri: string }

const PATHS = {
  github: { authorize: '/login/oauth/authorize', token: '/login/oauth/access_token' },
  google: { authorize: '/o/oauth2/v2/auth', token: '/oauth2/v4/token' }
}

export async function startFakeProvider (kind: 'github', client: { id: string, secret: string }, account: GitHubAccount): Promise<FakeProvider<GitHubAccount>>
export async function startFakeProvider (kind: 'google', client: { id: string, secret: string }, account: GoogleAccount): Promise<FakeProvider<GoogleAccount>>
export async function startFakeProvider (kind: 'github' | 'google', client: { id: string, secret: string }, account: GitHubAccount | GoogleAccount): Promise<FakeProvider<GitHubAccount | GoogleAccount>> {
  const server = Fastify()
  await server.register(formbody)
  const grants = new Map<string, Grant>()
  const tokens = new Map<string, unknown>()

  server.get(PATHS[kind].authorize, async (request, reply) => {
    const q = request.query as Record<string, string | undefined>
    if (q.client_id !== client.id || q.response_type !== 'code' || q.redirect_uri === undefined) return await reply.code(400).send({ error: 'invalid_request' })
    if (q.code_challenge_method !== 'S256' || q.code_challenge === undefined) return await reply.code(400).send({ error: 'invalid_request', error_description: 'PKCE S256 required' })
    const code = randomBytes(12).toString('hex')
    grants.set(code, { account: structuredClone(fake.account), challenge: q.code_challenge, redirectUri: q.redirect_uri })
    const back = new URL(q.redirect_uri)
    back.searchParams.set('code', code)
    if (q.state !== undefined) back.searchParams.set('state', q.state)
    return await reply.redirect(back.href)
  })

  server.post(PATHS[kind].token, async (request, reply) => {
    const body = request.body as Record<string, string | undefined>
    // simple-oauth2 sends the client in a Basic header, each part form-encoded.
    const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1]
    const [id, secret] = basic === undefined ? [body.client_id, body.client_secret] : Buffer.from(basic, 'base64').toString().split(':').map((part) => decodeURIComponent(part))
    if (id !== client.id || secret !== client.secret) return await reply.code(401).send({ error: 'invalid_client' })
    const grant = body.code === undefined ? undefined : grants.get(body.code)
    if (body.code !== undefined) grants.delete(body.code)
    if (body.grant_type !== 'authorization_code' || grant === undefined || body.redirect_uri !== grant.redirectUri) return await reply.code(400).send({ error: 'invalid_grant' })
    const challenge = createHash('sha256').update(body.code_verifier ?? '').digest('base64url')
    if (challenge !== grant.challenge) return await reply.code(400).send({ error: 'invalid_grant', error_description: 'PKCE verification failed' })
    const accessToken = randomBytes(16).toString('hex')
    tokens.set(accessToken, grant.account)
    fake.tokensIssued++
    return { access_token: accessToken, token_type: 'bearer', scope: '' }
  })

  // The user API (GitHub's /user and /user/emails, Google's userinfo): what the token's holder may read.
  function userApi<A> (pick: (account: A) => unknown) {
    return async (request: FastifyRequest, reply: FastifyReply) => {
      if (fake.userApiStatus !== undefined) return await reply.code(fake.userApiStatus).send({ message: 'Server Error' })
      const token = /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1]
      const account = token === undefined ? undefined : tokens.get(token)
      if (account === undefined) return await reply.code(401).send({ message: 'Bad credentials' })
      return pick(account as A)
    }
  }
  if (kind === 'github') {
    server.get('/user', userApi((a: GitHubAccount) => ({ id: a.id, login: a.login, name: a.name })))
    server.get('/user/emails', userApi((a: GitHubAccount) => a.emails))
  } else {
    server.get('/v1/userinfo', userApi((a: GoogleAccount) => a))
  }

  await server.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`
  const fake: FakeProvider<GitHubAccount | GoogleAccount> = {
    url,
    endpoints: kind === 'github'
      ? { authorizeHost: url, tokenHost: url, apiBaseUrl: url }
      : { authorizeHost: url, tokenHost: url, userinfoUrl: `${url}/v1/userinfo` },
    account,
    tokensIssued: 0,
    close: async () => { await server.close() }
  }
  return fake
}
