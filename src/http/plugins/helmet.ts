import helmet, { type FastifyHelmetOptions } from '@fastify/helmet'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import type { OAuthConfig } from '../../config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The site's security headers, as helmet makes them: computed once at start. */
    securityHeaders: ReadonlyArray<readonly [string, string]>
  }
}

/** Where the sign-in form is: the provider's authorize endpoint's origin. */
function identityProviderOrigin (oauth: OAuthConfig): string {
  if (oauth.endpoints !== undefined) return new URL(oauth.endpoints.authorizeHost).origin
  switch (oauth.provider) {
    case 'github': return 'https://github.com'
    case 'google': return 'https://accounts.google.com'
    case 'oidc': return new URL(oauth.issuer!).origin
  }
}

/**
 * The headers helmet sets with these options, in its order. They depend on the options only (no
 * nonces, nothing per request), so helmet runs once, on a throwaway instance, instead of building
 * its middlewares and parsing the CSP on every request.
 */
async function helmetHeaders (options: FastifyHelmetOptions): Promise<Array<[string, string]>> {
  const probe = Fastify({ logger: false })
  let headers: Array<[string, string]> = []
  await probe.register(helmet, options)
  probe.get('/', async (_request, reply) => {
    headers = reply.raw.getHeaderNames().map((name) => [name, String(reply.raw.getHeader(name))])
    return ''
  })
  await probe.inject('/')
  await probe.close()
  if (headers.length === 0) throw new Error('helmet set no headers')
  return headers
}

/** Security headers of the site's pages. */
export default fp(async function helmetPlugin (app) {
  const { config } = app
  // Checkout is a form POST answered with a redirect to the provider's page: browsers apply
  // form-action to that redirect, so its origin (or the local stand-in's) must be allowed.
  const checkoutOrigins = app.payments.checkoutOrigins
  // A signed-out visitor's form POST (Buy) is answered with a redirect to /login and on to the
  // identity provider: the whole chain is under form-action, so the provider must be allowed too.
  const signInOrigins = config.oauth === null ? [] : [identityProviderOrigin(config.oauth)]
  const headers = await helmetHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        formAction: ["'self'", ...checkoutOrigins, ...signInOrigins],
        frameAncestors: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        ...(config.production ? { upgradeInsecureRequests: [] } : {})
      }
    },
    // Plain-HTTP development on localhost must not be told to use HTTPS.
    strictTransportSecurity: config.production,
    // Our own pages send their address to our own routes (a signed-out Buy finds its way back
    // after sign-in), and nothing to Stripe or the identity provider.
    referrerPolicy: { policy: 'same-origin' }
  })
  app.decorate('securityHeaders', headers)
  // First thing, so every answer of the site has them (pages, redirects, errors, 404s), and a
  // route's own header of the same name wins. On the reply rather than the raw response (where
  // helmet puts them): Node then validates every header once, when they are written.
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of headers) reply.header(name, value)
    done()
  })
}, { name: 'helmet' })
