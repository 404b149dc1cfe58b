import type { FastifyBaseLogger } from 'fastify'
import { DomainError } from './errors.js'
import type { Orders } from './orders.js'
import type { Payments } from './payments.js'

export interface RefundResult {
  outcome: 'refunded' | 'already_refunded'
  /** Another paid order of the buyer for the same item that keeps their access. */
  keptBy: string | null
}

/** Orders the admin may refund: paid ones, and paid ones held for review (amount mismatch). */
const REFUNDABLE = new Set(['paid', 'review'])

/**
 * The admin's Refund button, top to bottom: our order first, then the payment provider (one
 * idempotency key per order), then one transaction that marks the order refunded, remembers the
 * refund so Stripe's charge.refunded changes nothing more, and revokes access at once. Stripe
 * failing changes nothing here.
 */
export function createRefunds (deps: { orders: Orders, payments: Payments, log: FastifyBaseLogger }) {
  const { orders, payments, log } = deps

  return {
    async refund (orderId: string): Promise<RefundResult> {
      const order = await orders.find(orderId)
      if (order === undefined) throw new DomainError('not_found', 'There is no order with this number.')
      // A second click, or a refund Stripe already told us about: nothing to do, no second call.
      if (order.status === 'refunded') return { outcome: 'already_refunded', keptBy: null }
      if (!REFUNDABLE.has(order.status)) {
        throw new DomainError('conflict', `Only paid orders can be refunded; this one is ${order.status}, so no money was taken.`)
      }
      if (order.provider !== payments.name) {
        throw new DomainError('conflict', `This order was paid through ${order.provider === 'mollie' ? 'Mollie' : 'Stripe'}, which the store no longer uses: refund it from that dashboard.`)
      }
      const { refundId } = await payments.refund(order)
      const recorded = await orders.recordRefund(order.id, refundId)
      if (recorded.outcome === 'unknown_order') throw new DomainError('not_found', 'There is no order with this number.')
      log.info({ orderId: order.id, refundId, outcome: recorded.outcome }, 'order refunded by the admin')
      return { outcome: recorded.outcome, keptBy: recorded.keptBy }
    }
  }
}

export type Refunds = ReturnType<typeof createRefunds>
