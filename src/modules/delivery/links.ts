import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

/** What a download link says once its signature is checked. */
export type LinkCheck =
  | { ok: true, orderId: string, expiresAt: Date }
  | { ok: false, reason: 'invalid' }
  | { ok: false, reason: 'expired', orderId: string, expiresAt: Date }

const DAY_MS = 24 * 60 * 60 * 1000
const ORDER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Download links that need no sign-in: `/d/<token>`, the token naming an order and an expiry,
 * signed with a key derived from SESSION_SECRET (HMAC-SHA256). Nothing is stored: a link is
 * valid because we signed it, until it expires (a refund is checked where the link is served).
 */
export function createLinks (deps: { secret: string, publicUrl: string, days: number }) {
  const key = Buffer.from(hkdfSync('sha256', deps.secret, 'pdf-marketplace', 'download link', 32))
  const sign = (payload: string): Buffer => createHmac('sha256', key).update(payload).digest()

  return {
    days: deps.days,

    /** A fresh link for an order, valid DOWNLOAD_LINK_DAYS from now. */
    create (orderId: string, now = new Date()): { token: string, url: string, expiresAt: Date } {
      const expiresAt = new Date(now.getTime() + deps.days * DAY_MS)
      const payload = `${orderId}.${Math.floor(expiresAt.getTime() / 1000)}`
      const token = `${Buffer.from(payload).toString('base64url')}.${sign(payload).toString('base64url')}`
      return { token, url: `${deps.publicUrl}/d/${token}`, expiresAt }
    },

    /** Checks the signature first: a forged, truncated or re-signed token tells nothing else. */
    verify (token: string, now = new Date()): LinkCheck {
      const [encoded, signature, ...rest] = token.split('.')
      if (encoded === undefined || signature === undefined || rest.length > 0 || token.length > 300) return { ok: false, reason: 'invalid' }
      const payload = Buffer.from(encoded, 'base64url').toString()
      const given = Buffer.from(signature, 'base64url')
      const expected = sign(payload)
      // base64url decoding ignores stray characters: the re-encoded forms must match too.
      if (given.length !== expected.length || !timingSafeEqual(given, expected) ||
        Buffer.from(payload).toString('base64url') !== encoded || given.toString('base64url') !== signature) {
        return { ok: false, reason: 'invalid' }
      }
      const [orderId = '', seconds = ''] = payload.split('.')
      if (!ORDER_ID.test(orderId) || !/^\d{1,12}$/.test(seconds)) return { ok: false, reason: 'invalid' }
      const expiresAt = new Date(Number(seconds) * 1000)
      if (expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired', orderId, expiresAt }
      return { ok: true, orderId, expiresAt }
    }
  }
}

export type Links = ReturnType<typeof createLinks>
