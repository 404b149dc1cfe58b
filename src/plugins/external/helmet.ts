import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'
import type { OAuthConfig } from '../../config.js'

/** Where the sign-in form is: the provider's authorize endpoint's origin. */
function identityProviderOrigin (oauth: OAuthConfig): string {
  if (oauth.endpoints !== undefined) return new URL(oauth.endpoints.authorizeHost).origin
  switch (oauth.provider) {
    case 'github': return 'https://github.com'
    case 'google': return 'https://accounts.google.com'
    case 'oidc': return new URL(oauth.issuer!).origin
  }
}

/** Security headers of the site's pages. */
export default fp(async function helmetPlugin (app) {
  const { config } = app
  // Checkout is a form POST answered with a redirect to the provider's page: browsers apply
  // form-action to that redirect, so its origin (or the local stand-in's) must be allowed.
  const checkoutOrigins = app.payments.checkoutOrigins
  // A signed-out visitor's form POST (Buy) is answered with a redirect to /login and on to the
  // identity provider: the whole chain is under form-action, so the provider must be allowed too.
  const signInOrigin = identityProviderOrigin(config.oauth)
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        formAction: ["'self'", ...checkoutOrigins, signInOrigin],
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
}, { name: 'helmet' })
