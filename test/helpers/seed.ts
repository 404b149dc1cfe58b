import type { Content, User } from '../../src/db/types.js'
import type { CookieJar, Harness } from './build.js'

export interface Buyer {
  user: User
  jar: CookieJar
}

/** Signs in `count` readers through the real OAuth flow; each comes back with its cookies. */
export async function seedBuyers (h: Harness, count: number, prefix = 'buyer'): Promise<Buyer[]> {
  const buyers: Buyer[] = []
  for (let i = 0; i < count; i++) {
    const email = `${prefix}-${i}@example.com`
    const jar = await h.signIn({ email, sub: `${prefix}-${i}` })
    const user = await h.app.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow()
    buyers.push({ user, jar })
  }
  return buyers
}

/**
 * Puts `count` paid items straight into the catalogue (no files: payments never read them).
 * Prices differ so an amount mix-up between orders would show.
 */
export async function seedContent (h: Harness, count: number, prefix = 'item'): Promise<Content[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    slug: `${prefix}-${i}`,
    title: `${prefix} ${i}`,
    description: '',
    price_cents: 100 + i,
    currency: h.config.currency,
    file_key: `${prefix}-${i}.pdf`,
    file_name: `${prefix}-${i}.pdf`,
    file_size: 0,
    sha256: '',
    preview_key: `${prefix}-${i}.png`
  }))
  return await h.app.db.insertInto('content').values(rows).returningAll().execute()
}
