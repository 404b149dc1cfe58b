import type { FastifyBaseLogger } from 'fastify'
import type { Content, User } from '../db/types.js'
import type { Orders } from './orders.js'
import type { Payments } from './payments.js'

export interface CheckoutStart {
  /** Where to send the buyer: Stripe's hosted page, or our own page for a checkout already done. */
  url: string
  orderId: string
  resumed: boolean
}

/**
 * Starting a purchase: one open checkout per buyer and item. A second Buy (a double click, a
 * second tab, Back from Stripe) while the first Checkout Session is open goes to that same
 * session, so the buyer can never pay twice for one item by accident.
 */
export function createCheckout (deps: { orders: Orders, payments: Payments, publicUrl: string, log: FastifyBaseLogger }) {
  const { orders, payments, publicUrl, log } = deps
  const successUrl = `${publicUrl}/checkout/success?session_id={CHECKOUT_SESSION_ID}`
  // Clicks of one buyer on one item are taken one at a time, so two quick clicks cannot both
  // miss the open order and create two.
  const inFlight = new Map<string, Promise<unknown>>()

  async function resume (user: User, content: Content): Promise<CheckoutStart | undefined> {
    const open = orders.openFor(user.id, content.id)
    if (open === undefined) return undefined
    const session = await payments.retrieveSession(open.stripe_session_id!)
    if (session.checkoutStatus === 'open' && typeof session.url === 'string') {
      return { url: session.url, orderId: open.id, resumed: true }
    }
    if (session.checkoutStatus === 'complete') {
      // Paid, or a bank transfer settling: the success page fulfils or shows its progress.
      return { url: successUrl.replace('{CHECKOUT_SESSION_ID}', encodeURIComponent(session.id)), orderId: open.id, resumed: true }
    }
    // Expired at Stripe (its webhook may still be on its way): a fresh checkout is needed.
    orders.expire(open.id)
    return undefined
  }

  async function begin (user: User, content: Content): Promise<CheckoutStart> {
    const resumed = await resume(user, content)
    if (resumed !== undefined) return resumed
    // The order exists, at our price, before Stripe hears of it.
    const order = orders.create(user.id, content)
    try {
      const session = await payments.createCheckoutSession(order, content, user.email, {
        successUrl,
        cancelUrl: `${publicUrl}/checkout/cancel?slug=${encodeURIComponent(content.slug)}`
      })
      orders.attachSession(order.id, session.id)
      log.info({ orderId: order.id, sessionId: session.id }, 'checkout started')
      return { url: session.url, orderId: order.id, resumed: false }
    } catch (error) {
      orders.abandon(order.id)
      log.error({ err: error, orderId: order.id }, 'could not create a checkout session')
      throw error
    }
  }

  return {
    async start (user: User, content: Content): Promise<CheckoutStart> {
      const key = `${user.id}:${content.id}`
      const previous = inFlight.get(key) ?? Promise.resolve()
      const current = previous.catch(() => {}).then(async () => await begin(user, content))
      inFlight.set(key, current)
      try {
        return await current
      } finally {
        if (inFlight.get(key) === current) inFlight.delete(key)
      }
    }
  }
}

export type Checkout = ReturnType<typeof createCheckout>
