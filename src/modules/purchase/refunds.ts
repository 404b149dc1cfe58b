import type { FastifyBaseLogger } from 'fastify'
import type { Order } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { decimals, formatAmount, parsePrice, toDecimal } from '../../lib/money.js'
import { type Orders, paidOf } from './orders.js'
import type { Payments } from './providers/contract.js'

/** What the desk asks: an amount typed on the confirm page, and what the page said was refunded. */
export interface RefundInput {
  /** A decimal in the order's currency ("2.50"); absent or empty: everything not yet refunded. */
  amount?: string
  /**
   * The amount already refunded as the confirm page showed it (a decimal). A second submit of
   * the same page (a double click) then finds more refunded than it says and refunds nothing.
   */
  refunded?: string
}

export interface RefundResult {
  /** refunded: all of it now (access revoked); partially_refunded: part of it, access kept. */
  outcome: 'refunded' | 'partially_refunded' | 'already_refunded'
  /** What this refund returned (0: nothing, it was made already), in minor units. */
  amountCents: number
  /** How much of the order is refunded now. */
  refundedCents: number
  /** Another paid order of the buyer for the same item that keeps their access. */
  keptBy: string | null
}

/** What the confirm page shows: what was paid, what went back already, what may still go back. */
export interface RefundQuote {
  paidCents: number
  refundedCents: number
  remainingCents: number
  currency: string
  /** Why the order cannot be refunded from the desk now; null: it can. */
  refusal: string | null
}

/** Orders the admin may refund: paid ones, and paid ones held for review (amount mismatch). */
const REFUNDABLE = new Set(['paid', 'review'])

const NO_ORDER = 'There is no order with this number.'

/**
 * The admin's refunds, top to bottom: our order first (what is left to refund, the amount
 * asked), then the payment provider (one idempotency key per refund: the order and the amount
 * refunded before it), then one transaction that records it, tells the buyer (the outbox) and,
 * for the last cent, revokes access at once. The provider failing changes nothing here.
 */
export function createRefunds (deps: { orders: Orders, payments: Payments, log: FastifyBaseLogger }) {
  const { orders, payments, log } = deps
  // Refunds under way on this instance, by idempotency key: the second of two clicks at once
  // waits for the first instead of asking the provider again (across instances, the key does it).
  const underWay = new Map<string, { amountCents: number | null, done: Promise<RefundResult> }>()

  function refusal (order: Order): string | null {
    if (order.status === 'refunded') return 'This order is refunded in full: there is nothing left to refund.'
    if (!REFUNDABLE.has(order.status)) return `Only paid orders can be refunded; this one is ${order.status}, so no money was taken.`
    if (order.provider !== payments.name) {
      return `This order was paid through ${order.provider === 'mollie' ? 'Mollie' : 'Stripe'}, which the store no longer uses: refund it from that dashboard.`
    }
    return null
  }

  function quoteOf (order: Order): RefundQuote {
    const paidCents = paidOf(order)
    return { paidCents, refundedCents: order.refunded_cents, remainingCents: Math.max(paidCents - order.refunded_cents, 0), currency: order.currency, refusal: refusal(order) }
  }

  /** A decimal the admin typed, in the order's currency; a DomainError that says how to write it. */
  function parse (text: string, currency: string, field: string): number {
    const places = decimals(currency)
    const cents = parsePrice(text, currency)
    if (cents === undefined) {
      const example = toDecimal(exampleAmount(currency), currency)
      throw new DomainError('invalid', `The ${field} must be a number in ${currency.toUpperCase()} with ${places === 0 ? 'no decimals' : `at most ${places} decimals`}, like ${example}. Nothing was refunded.`)
    }
    return cents
  }

  async function find (orderId: string): Promise<Order> {
    const order = await orders.find(orderId)
    if (order === undefined) throw new DomainError('not_found', NO_ORDER)
    return order
  }

  return {
    async quote (orderId: string): Promise<RefundQuote> {
      return quoteOf(await find(orderId))
    },

    async refund (orderId: string, input: RefundInput = {}): Promise<RefundResult> {
      const order = await find(orderId)
      // Refunded in full already (a second click, or a refund the provider told of): nothing to do, no second call.
      if (order.status === 'refunded') return { outcome: 'already_refunded', amountCents: 0, refundedCents: order.refunded_cents, keptBy: null }
      const refused = refusal(order)
      if (refused !== null) throw new DomainError('conflict', refused)
      const { paidCents, refundedCents, remainingCents, currency } = quoteOf(order)
      const typed = input.amount?.trim() ?? ''
      const asked = typed === '' ? null : parse(typed, currency, 'amount')
      const shown = input.refunded === undefined || input.refunded.trim() === '' ? refundedCents : parse(input.refunded, currency, 'amount already refunded')
      if (shown !== refundedCents) {
        // The same page sent twice: its refund was made by the first submit.
        if (shown < refundedCents && (asked === null ? paidCents - shown : asked) === refundedCents - shown) {
          return { outcome: 'already_refunded', amountCents: 0, refundedCents, keptBy: null }
        }
        throw new DomainError('conflict', `Since this page was shown, the amount refunded of this order changed to ${formatAmount(refundedCents, currency)}, so nothing was refunded now. Check the amounts below and try again.`)
      }
      if (asked !== null && asked <= 0) throw new DomainError('invalid', 'The amount to refund must be more than 0. Nothing was refunded.')
      if (asked !== null && asked > remainingCents) {
        throw new DomainError('invalid', `At most ${formatAmount(remainingCents, currency)} is left to refund of this order, so ${formatAmount(asked, currency)} cannot be refunded. Nothing was refunded.`)
      }
      // All that is left goes as a full refund: the provider refunds whatever remains of the payment.
      const amountCents = asked === null || asked === remainingCents ? null : asked
      const idempotencyKey = `refund-${order.id}-${refundedCents}`
      const running = underWay.get(idempotencyKey)
      if (running !== undefined) {
        if (running.amountCents !== amountCents) throw new DomainError('conflict', 'Another refund of this order is under way. Reload the page in a moment to see what was refunded.')
        const first = await running.done
        return { ...first, outcome: 'already_refunded', amountCents: 0 }
      }
      const done = (async (): Promise<RefundResult> => {
        const { refundId } = await payments.refund({ order, amountCents, idempotencyKey })
        const total = amountCents === null ? paidCents : refundedCents + amountCents
        const recorded = await orders.recordRefund(order.id, refundId, total)
        if (recorded.outcome === 'unknown_order') throw new DomainError('not_found', NO_ORDER)
        log.info({ orderId: order.id, refundId, amountCents: total - refundedCents, refundedCents: recorded.refundedCents, outcome: recorded.outcome }, 'order refunded by the admin')
        return { outcome: recorded.outcome, amountCents: Math.max(recorded.refundedCents - refundedCents, 0), refundedCents: recorded.refundedCents, keptBy: recorded.keptBy }
      })()
      underWay.set(idempotencyKey, { amountCents, done })
      try {
        return await done
      } finally {
        underWay.delete(idempotencyKey)
      }
    }
  }
}

/** An amount to show in the "like ..." of a message: 2.50 in the currency's own decimals. */
function exampleAmount (currency: string): number {
  return parsePrice(decimals(currency) === 0 ? '250' : '2.5', currency) ?? 250
}

export type Refunds = ReturnType<typeof createRefunds>
