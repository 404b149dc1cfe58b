import type { FastifyRequest } from 'fastify'

/** One entry of the cart as the session keeps it: an item's slug, and the amount chosen for a pay-what-you-want one. */
export interface CartEntry { slug: string, amount?: number }

/** The cart this browser keeps (session key `cart`); anything malformed is left out. */
export function cartEntries (request: FastifyRequest): CartEntry[] {
  const kept = request.session.get('cart')
  if (!Array.isArray(kept)) return []
  return kept.filter((e): e is CartEntry => typeof e === 'object' && e !== null && typeof e.slug === 'string' &&
    (e.amount === undefined || Number.isSafeInteger(e.amount)))
}

export function saveCart (request: FastifyRequest, entries: CartEntry[]): void {
  request.session.set('cart', entries.length === 0 ? undefined : entries)
}
