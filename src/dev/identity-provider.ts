import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server'
import { escapeHtml } from './html.js'

/**
 * An OpenID Connect provider for demo mode and tests: oauth2-mock-server, with a small
 * "sign in as" page in front of its authorize endpoint so a person (or a test) chooses who
 * signs in. The app talks to it through the same @fastify/oauth2 discovery code path as to a
 * real provider.
 */
export interface Identity {
  sub: string
  email: string
  name: string
  email_verified: boolean
}

export interface IdentityProvider {
  /** The issuer URL (discovery at /.well-known/openid-configuration). */
  url: string
  /** Where discovery sends a browser to sign in: `${url}/authorize`, or under `authorizeBase`. */
  authorizeUrl: string
  close(): Promise<void>
}

export interface IdentityProviderOptions {
  /** Prefilled in the sign-in form. */
  defaultEmail?: string
  /**
   * Where a browser reaches this provider's pages, when not on its own loopback origin: demo mode
   * passes `${PUBLIC_URL}/dev/idp` and forwards GET /dev/idp/authorize here. Discovery then names
   * `${authorizeBase}/authorize` as the authorization endpoint; the token, userinfo and key
   * endpoints (which only the app calls) stay on loopback.
   */
  authorizeBase?: string
}

/** The identity chosen on the form travels as extra query parameters of the authorize request. */
function identityFromQuery (query: URLSearchParams): Identity | undefined {
  const email = query.get('login_email')?.trim()
  if (email === undefined || email === '' || !email.includes('@')) return undefined
  const name = query.get('login_name')?.trim() || email.split('@')[0]!
  return {
    // One subject per email, so signing in twice as the same person finds the same account.
    sub: query.get('login_sub')?.trim() || `demo|${email.toLowerCase()}`,
    email,
    name,
    // The form sends the checkbox only when ticked; a programmatic caller may say 'false'.
    email_verified: query.has('login_submitted')
      ? query.getAll('login_verified').includes('true')
      : query.get('login_verified') !== 'false'
  }
}

function signInPage (query: URLSearchParams, defaultEmail: string, problem?: string): string {
  const hidden = [...query.entries()]
    .filter(([key]) => !key.startsWith('login_'))
    .map(([key, value]) => `<input type="hidden" name="${escapeHtml(key)}" value="${escapeHtml(value)}">`)
    .join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in (demo identity provider)</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f4f4f8; color: #1c1c28; margin: 0; display: grid; min-height: 100vh; place-items: center; }
  main { background: #fff; border-radius: 12px; box-shadow: 0 4px 24px rgb(0 0 0 / 8%); padding: 2rem; width: min(24rem, calc(100vw - 2rem)); box-sizing: border-box; }
  h1 { font-size: 1.3rem; margin: 0 0 .25rem; }
  p { color: #4a4a5a; margin: 0 0 1.25rem; font-size: .95rem; }
  label { display: block; font-weight: 600; margin: 1rem 0 .35rem; font-size: .9rem; }
  input[type=text], input[type=email] { width: 100%; box-sizing: border-box; padding: .65rem .75rem; border: 1px solid #b8b8c8; border-radius: 8px; font-size: 1rem; }
  .check { display: flex; gap: .5rem; align-items: center; font-weight: 400; }
  button { margin-top: 1.5rem; width: 100%; padding: .75rem; border: 0; border-radius: 8px; background: #4338ca; color: #fff; font-size: 1rem; font-weight: 600; cursor: pointer; }
  :focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
  .problem { color: #b91c1c; font-weight: 600; }
  .badge { display: inline-block; background: #fef3c7; color: #78350f; border-radius: 999px; padding: .15rem .6rem; font-size: .75rem; font-weight: 700; margin-bottom: .75rem; }
</style></head>
<body><main>
  <span class="badge">DEMO IDENTITY PROVIDER</span>
  <h1>Sign in as…</h1>
  <p>Type any name and email. The email in ADMIN_EMAILS signs you in as an admin; any other is a reader.</p>
  ${problem === undefined ? '' : `<p class="problem" role="alert">${escapeHtml(problem)}</p>`}
  <form method="get" action="authorize">
    ${hidden}
    <label for="login_name">Name</label>
    <input id="login_name" name="login_name" type="text" autocomplete="name" value="${escapeHtml(query.get('login_name') ?? '')}" placeholder="Ada Lovelace">
    <label for="login_email">Email</label>
    <input id="login_email" name="login_email" type="email" autocomplete="email" required value="${escapeHtml(query.get('login_email') ?? defaultEmail)}">
    <label class="check" for="login_verified"><input id="login_verified" name="login_verified" type="checkbox" value="true" checked> Email is verified</label>
    <input type="hidden" name="login_submitted" value="1">
    <button type="submit">Continue</button>
  </form>
</main></body></html>`
}

/** oauth2-mock-server's discovery document, with the browser's authorization endpoint moved. */
function discovery (issuer: string, authorizationEndpoint: string): Record<string, unknown> {
  return {
    issuer,
    token_endpoint: `${issuer}/token`,
    authorization_endpoint: authorizationEndpoint,
    userinfo_endpoint: `${issuer}/userinfo`,
    token_endpoint_auth_methods_supported: ['none'],
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    grant_types_supported: ['client_credentials', 'authorization_code', 'password'],
    token_endpoint_auth_signing_alg_values_supported: ['RS256'],
    response_modes_supported: ['query'],
    id_token_signing_alg_values_supported: ['RS256'],
    revocation_endpoint: `${issuer}/revoke`,
    subject_types_supported: ['public'],
    end_session_endpoint: `${issuer}/endsession`,
    introspection_endpoint: `${issuer}/introspect`,
    code_challenge_methods_supported: ['plain', 'S256']
  }
}

export async function startIdentityProvider (options: IdentityProviderOptions = {}): Promise<IdentityProvider> {
  const issuer = new OAuth2Issuer()
  await issuer.keys.generate('RS256')
  const service = new OAuth2Service(issuer)
  const byCode = new Map<string, Identity>()
  const defaultEmail = options.defaultEmail ?? 'admin@example.com'

  service.on('beforeAuthorizeRedirect', (redirect: { url: URL }, req: IncomingMessage) => {
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams
    const identity = identityFromQuery(query)
    const code = redirect.url.searchParams.get('code')
    if (identity !== undefined && code !== null) byCode.set(code, identity)
  })
  // Access token and ID token are both built for the same token request: both carry the identity.
  service.on('beforeTokenSigning', (token: { payload: Record<string, unknown> }, req: IncomingMessage & { body?: Record<string, unknown> }) => {
    const code = req.body?.code
    const identity = typeof code === 'string' ? byCode.get(code) : undefined
    if (identity !== undefined) Object.assign(token.payload, identity)
  })
  service.on('beforeResponse', (_response: unknown, req: IncomingMessage & { body?: Record<string, unknown> }) => {
    const code = req.body?.code
    if (typeof code === 'string') byCode.delete(code)
  })
  service.on('beforeUserinfo', (response: { body: Record<string, unknown>, statusCode: number }, req: IncomingMessage) => {
    // The access token is a JWT this provider signed; its claims are the identity.
    const token = req.headers.authorization?.replace(/^Bearer\s+/i, '') ?? ''
    const payload = token.split('.')[1]
    if (payload === undefined) {
      response.statusCode = 401
      response.body = { error: 'invalid_token' }
      return
    }
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
    response.body = { sub: claims.sub, email: claims.email, email_verified: claims.email_verified, name: claims.name }
  })

  const handler = service.requestHandler as (req: IncomingMessage, res: ServerResponse) => void
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration' && options.authorizeBase !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      res.end(JSON.stringify(discovery(issuer.url!, `${options.authorizeBase}/authorize`)))
      return
    }
    if (req.method === 'GET' && url.pathname === '/authorize' && identityFromQuery(url.searchParams) === undefined) {
      const problem = url.searchParams.has('login_submitted') ? 'Please enter a valid email address.' : undefined
      res.writeHead(problem === undefined ? 200 : 400, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(signInPage(url.searchParams, defaultEmail, problem))
      return
    }
    handler(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  issuer.url = `http://127.0.0.1:${port}`

  return {
    url: issuer.url,
    authorizeUrl: `${options.authorizeBase ?? issuer.url}/authorize`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
