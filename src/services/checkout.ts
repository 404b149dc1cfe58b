import type { FastifyBaseLogger } from 'fastify'
import type { Content, User } from '../db/types.js'
import type { Orders } from './orders.js'
import type { Payments } from './payments.js'
import type { Settings } from './settings.js'

export interface CheckoutStart {
  /** Where to send the buyer: the provider's hosted page, or our own page for a checkout already done. */
  url: string
  orderId: string
  resumed: boolean
}

export interface CheckoutOptions {
  /** A pay-what-you-want item's amount, already checked against its minimum (payWhatYouWant()). */
  amount?: number
  /** The buyer's address when we know it and the user record does not (a guest who typed it). */
  email?: string | null
}

/**
 * Starting a purchase: one open checkout per buyer and item. A second Buy (a double click, a
 * second tab, Back from the payment page) while the first checkout is open goes to that same
 * checkout, so the buyer can never pay twice for one item by accident.
 */
export function createCheckout (deps: { orders: Orders, payments: Payments, settings: Settings, publicUrl: string, log: FastifyBaseLogger }) {
  const { orders, payments, settings, publicUrl, log } = deps
  // Clicks of one buyer on one item are taken one at a time, so two quick clicks cannot both
  // miss the open order and create two.
  const inFlight = new Map<string, Promise<unknown>>()

  async function resume (user: User, content: Content, amount: number): Promise<CheckoutStart | undefined> {
    const open = await orders.openFor(user.id, content.id)
    // Another amount named for a pay-what-you-want item is another checkout.
    if (open === undefined || open.amount_cents !== amount) return undefined
    const session = await payments.retrieve(open.stripe_session_id!)
    if (session.checkoutStatus === 'open' && typeof session.url === 'string') {
      return { url: session.url, orderId: open.id, resumed: true }
    }
    if (session.checkoutStatus === 'complete') {
      // Paid, or a payment settling: the success page fulfils or shows its progress.
      return { url: payments.returnUrl(open.id, session.id), orderId: open.id, resumed: true }
    }
    // Expired or failed at the provider (its webhook may still be on its way): a fresh checkout is needed.
    await orders.expire(open.id)
    return undefined
  }

  async function begin (user: User, content: Content, options: CheckoutOptions): Promise<CheckoutStart> {
    const amount = options.amount ?? content.price_cents
    const resumed = await resume(user, content, amount)
    if (resumed !== undefined) return resumed
    // The order exists, at our price, before the provider hears of it.
    const order = await orders.create(user.id, content, amount)
    try {
      const session = await payments.createCheckout({
        order,
        title: content.title,
        customerEmail: user.email ?? options.email ?? null,
        allowPromotionCodes: settings.current().allowPromotionCodes,
        cancelUrl: `${publicUrl}/checkout/cancel?slug=${encodeURIComponent(content.slug)}`
      })
      await orders.attachSession(order.id, session.id)
      log.info({ orderId: order.id, sessionId: session.id }, 'checkout started')
      return { url: session.url, orderId: order.id, resumed: false }
    } catch (error) {
      await orders.abandon(order.id)
      log.error({ err: error, orderId: order.id }, 'could not create a checkout session')
      throw error
    }
  }

  return {
    async start (user: User, content: Content, options: CheckoutOptions = {}): Promise<CheckoutStart> {
      const key = `${user.id}:${content.id}`
      const previous = inFlight.get(key) ?? Promise.resolve()
      const current = previous.catch(() => {}).then(async () => await begin(user, content, options))
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
