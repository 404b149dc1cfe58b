import { hkdfSync } from 'node:crypto'
import csrf from '@fastify/csrf-protection'
import flash from '@fastify/flash'
import formbody from '@fastify/formbody'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import secureSession from '@fastify/secure-session'
import fp from 'fastify-plugin'
import { HttpError } from './errors.js'

declare module '@fastify/secure-session' {
  interface SessionData {
    userId: number
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

const THIRTY_DAYS = 30 * 24 * 60 * 60

export default fp(async function security (app) {
  const { config } = app
  // Checkout is a form POST answered with a redirect to Stripe's page: browsers apply
  // form-action to that redirect, so Stripe's origin (or the local stand-in's) must be allowed.
  const checkoutOrigin = config.stripe.apiUrl === undefined ? 'https://checkout.stripe.com' : new URL(config.stripe.apiUrl).origin

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
        formAction: ["'self'", checkoutOrigin],
        frameAncestors: ["'none'"],
        imgSrc: ["'self'", 'data:'],
        objectSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        ...(config.production ? { upgradeInsecureRequests: [] } : {})
      }
    },
    // Plain-HTTP development on localhost must not be told to use HTTPS.
    strictTransportSecurity: config.production
  })

  await app.register(formbody)
  await app.register(secureSession, {
    // A derived 32-byte key: SESSION_SECRET may be any string of 32+ characters.
    key: Buffer.from(hkdfSync('sha256', config.sessionSecret, 'pdf-marketplace', 'session cookie', 32)),
    cookieName: 'session',
    expiry: THIRTY_DAYS,
    cookie: {
      path: '/',
      httpOnly: true,
      // Lax, not Strict: the returns from the identity provider and from Stripe are cross-site.
      sameSite: 'lax',
      secure: config.production,
      maxAge: THIRTY_DAYS
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
