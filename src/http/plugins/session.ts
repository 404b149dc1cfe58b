import { hkdfSync } from 'node:crypto'
import secureSession from '@fastify/secure-session'
import fp from 'fastify-plugin'

declare module '@fastify/secure-session' {
  interface SessionData {
    /** The sign-in (a row of `sessions`): signing out deletes it on the server. */
    sid: string
    /** Where to go after signing in: a local path. */
    next: string
    _csrf: string
    /** Guest checkout: this browser's random id (its 'guest-session' user) and its latest orders. */
    guest: string
    guestOrders: string[]
    /** The cart (src/modules/cart): item slugs, with the amount chosen for a pay-what-you-want one; and the order checked out from it. */
    cart: Array<{ slug: string, amount?: number }>
    cartOrder: string
  }
}

/** The encrypted session cookie. */
export default fp(async function sessionPlugin (app) {
  const { config } = app
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
}, { name: 'session' })
