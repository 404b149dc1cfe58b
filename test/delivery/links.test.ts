import t from 'tap'
import { createLinks } from '../../src/modules/delivery/links.js'

const ORDER = '3f2b8c1e-5d4a-4e2b-9c1d-7a6b5c4d3e2f'
const links = createLinks({ secret: 'a-test-session-secret-that-is-long-enough', publicUrl: 'https://shop.example', days: 7 })
const now = new Date('2026-11-24T10:00:00Z')

t.test('a link names its order and lasts DOWNLOAD_LINK_DAYS', async (t) => {
  const link = links.create(ORDER, now)
  t.equal(link.url, `https://shop.example/d/${link.token}`)
  t.equal(link.expiresAt.toISOString(), '2026-12-01T10:00:00.000Z')
  t.same(links.verify(link.token, now), { ok: true, orderId: ORDER, expiresAt: link.expiresAt })
  t.same(links.verify(link.token, new Date('2026-12-01T09:59:59Z')).ok, true, 'valid until the last second')
  t.same(links.verify(link.token, new Date('2026-12-01T10:00:00Z')), { ok: false, reason: 'expired', orderId: ORDER, expiresAt: link.expiresAt }, 'then expired, still naming its order')
})

t.test('forged, truncated, re-signed or mangled tokens are invalid and say nothing more', async (t) => {
  const { token } = links.create(ORDER, now)
  const [payload, signature] = token.split('.') as [string, string]
  const other = createLinks({ secret: 'another-secret-of-at-least-thirty-two-chars', publicUrl: 'https://shop.example', days: 7 })
  const longer = Buffer.from(`${ORDER}.${Math.floor(now.getTime() / 1000) + 10 * 86400}`).toString('base64url')
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['no signature', payload],
    ['truncated signature', `${payload}.${signature.slice(0, -2)}`],
    ['a flipped signature character', `${payload}.${signature.slice(0, -1)}${signature.endsWith('A') ? 'B' : 'A'}`],
    ['a longer expiry with the old signature', `${longer}.${signature}`],
    ['signed with another secret', other.create(ORDER, now).token],
    ['three parts', `${token}.x`],
    ['stray characters base64url would skip', `${payload}.${signature}=`],
    ['not an order id', (() => { const p = Buffer.from('x.99999999999').toString('base64url'); return `${p}.${signature}` })()],
    ['very long', 'a'.repeat(5000)]
  ]
  for (const [name, forged] of cases) t.same(links.verify(forged, now), { ok: false, reason: 'invalid' }, name)
})
