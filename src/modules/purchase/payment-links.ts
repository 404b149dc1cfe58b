import { randomUUID } from 'node:crypto'
import type { Order } from '../../db/types.js'
import { guestAddress, guestEmailUser } from './guests.js'
import type { OrdersContext } from './model.js'
import type { SessionFacts } from './providers/contract.js'

/**
 * A session a Stripe Payment Link made has no order of ours: the first time it is seen, it
 * becomes an order of the item whose stored link it is, at that item's price, for the address
 * Stripe collected (a guest purchase). Later calls find that order by the session's id. A link
 * no item has, or a session without an address, makes nothing. Runs in the caller's transaction.
 */
export async function paymentLinkOrderInTransaction (ctx: OrdersContext, session: SessionFacts): Promise<Order | undefined> {
  const { db, runner, log } = ctx
  const existing = await runner.first(db.selectFrom('orders').selectAll().where('provider_checkout_id', '=', session.id))
  if (existing !== undefined) return existing
  const content = await runner.first(db.selectFrom('content').selectAll().where('payment_link_id', '=', session.paymentLink!))
  if (content === undefined) {
    log.warn({ sessionId: session.id, paymentLink: session.paymentLink }, 'checkout session from a Payment Link no item has: acknowledged, nothing granted')
    return undefined
  }
  const address = guestAddress(session.customerEmail)
  if (address === null) {
    log.warn({ sessionId: session.id, paymentLink: session.paymentLink }, 'Payment Link session without a buyer email: nothing granted')
    return undefined
  }
  const order = (await runner.first(db.insertInto('orders').values({
    id: randomUUID(),
    user_id: (await guestEmailUser(db, runner, address)).id,
    content_id: content.id,
    amount_cents: content.price_cents,
    currency: content.currency,
    provider_checkout_id: session.id,
    provider: 'stripe'
  }).returningAll()))!
  await runner.run(db.insertInto('order_lines').values({ order_id: order.id, line: 1, content_id: content.id, amount_cents: content.price_cents, currency: content.currency }))
  await ctx.timeline.note(order.id, 'created', `from Payment Link ${session.paymentLink!}`)
  return order
}
