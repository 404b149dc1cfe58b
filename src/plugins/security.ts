import { hkdfSync } from 'node:crypto'
import csrf from '@fastify/csrf-protection'
import flash from '@fastify/flash'
import formbody from '@fastify/formbody'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import secureSession from '@fastify/secure-session'
import fp from 'fastify-plugin'
import type { OAuthConfig } from '../config.js'
import { HttpError } from './errors.js'

declare module '@fastify/secure-session' {
  interface SessionData {
    /** The sign-in (a row of `sessions`): signing out deletes it on the server. */
    sid: string
    /** Where to go after signing in: a local path. */
    next: string
    _csrf: string
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Form POSTs are CSRF-checked unless a route opts out (only the Stripe webhook does). */
    csrf?: boolean
    /** Counted against RATE_LIMIT_PER_MINUTE per client (sign-in and checkout). */
    rateLimited?: boolean
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

export default fp(async function security (app) {
  const { config } = app
  // Checkout is a form POST answered with a redirect to Stripe's page: browsers apply
  // form-action to that redirect, so Stripe's origin (or the local stand-in's) must be allowed.
  const checkoutOrigin = config.stripe.apiUrl === undefined ? 'https://checkout.stripe.com' : new URL(config.stripe.apiUrl).origin
  // A signed-out visitor's form POST (Buy) is answered with a redirect to /login and on to the
  // identity provider: the whole chain is under form-action, so the provider must be allowed too.
  const signInOrigin = identityProviderOrigin(config.oauth)

  // How long the server itself took, for browsers' developer tools and the benchmark
  // (bench/run.ts): Fastify's elapsed time when the reply is about to be sent.
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.header('server-timing', `app;dur=${reply.elapsedTime.toFixed(2)}`)
    done(null, payload)
  })

  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        baseUri: ["'self'"],
        formAction: ["'self'", checkoutOrigin, signInOrigin],
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

  await app.register(formbody)
  // The cookie outlives nothing: the sign-in's own row ends at SESSION_DAYS from sign-in,
  // however often the cookie is rewritten (secure-session's expiry slides with each write).
  const lifetime = config.sessionDays * 24 * 60 * 60
  await app.register(secureSession, {
    // A derived 32-byte key: SESSION_SECRET may be any string of 32+ characters.
    key: Buffer.from(hkdfSync('sha256', config.sessionSecret, 'pdf-marketplace', 'session cookie', 32)),
    // __Host-: Secure, Path=/ and no Domain, so no sibling subdomain can plant or read it.
    cookieName: config.production ? '__Host-session' : 'session',
    expiry: lifetime,
    cookie: {
      path: '/',
      httpOnly: true,
      // Lax, not Strict: the returns from the identity provider and from Stripe are cross-site.
      sameSite: 'lax',
      secure: config.production,
      maxAge: lifetime
    }
  })
  await app.register(flash)
  await app.register(csrf, { sessionPlugin: '@fastify/secure-session' })

  const limit = config.rateLimitPerMinute
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.includes('POST') && route.config?.csrf !== false) {
      const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
      route.preHandler = [app.csrfProtection, ...existing]
    }
    if (route.config?.rateLimited === true && limit > 0) {
      route.config = { ...route.config, rateLimit: { max: limit, timeWindow: 60_000 } }
    }
  })
  await app.register(rateLimit, {
    global: false,
    errorResponseBuilder: (_request, context) => new HttpError(429,
      `Too many requests from your address. Please wait ${Math.ceil(context.ttl / 1000)} seconds and try again.`)
  })
}, { name: 'security', dependencies: ['errors'] })
