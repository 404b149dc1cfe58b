import { randomBytes } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { User } from '../../db/types.js'

/** The guest orders a browser remembers (its latest); older ones are reached by the receipt's link. */
const GUEST_ORDERS_KEPT = 20

/** The guest orders this browser started (its session remembers the latest). */
export function guestOrders (request: FastifyRequest): string[] {
  const kept = request.session.get('guestOrders')
  return Array.isArray(kept) ? kept.filter((id): id is string => typeof id === 'string') : []
}

export function rememberGuestOrder (request: FastifyRequest, orderId: string): void {
  const kept = guestOrders(request)
  if (kept.includes(orderId)) return
  request.session.set('guestOrders', [...kept, orderId].slice(-GUEST_ORDERS_KEPT))
}

/** This browser's guest user: its id lives in the session cookie, made on the first guest Buy. */
export async function browserGuest (app: FastifyInstance, request: FastifyRequest): Promise<User> {
  let guestId = request.session.get('guest')
  if (typeof guestId !== 'string') {
    guestId = randomBytes(18).toString('base64url')
    request.session.set('guest', guestId)
  }
  return await app.users.guestSession(guestId)
}
