import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Runner } from '../../db/runner.js'
import type { Outbox } from './outbox.js'

/** What POST /links did; the page answers the same whatever it was (no enumeration). */
export type LinksOutcome = 'queued' | 'none' | 'limited' | 'off'

export const LINKS_PER_HOUR = 3
const HOUR_MS = 60 * 60 * 1000

export interface QueueDeps {
  rows: Outbox
  runner: Runner
  orders: FastifyInstance['orders']
  log: FastifyBaseLogger
  /** Called after a row is added (after its transaction's commit, by setImmediate). */
  kick(): void
}

/**
 * Which mail is written when: a receipt with every grant and a notice with every refund that
 * returned money, each in that change's transaction; a receipt again when the admin asks; links
 * again when a buyer asks, at most LINKS_PER_HOUR mails an hour per address.
 */
export function createMailQueue (deps: QueueDeps) {
  const { rows, runner, orders, log, kick } = deps

  /** Receipts and refund notices, written in the transaction of the grant or refund. */
  function listen (): void {
    orders.onGranted(async (order, session) => {
      const to = await rows.recipientOf(order, session.customerEmail)
      if (to === null) {
        log.warn({ orderId: order.id }, 'paid order has no email address: no receipt is sent')
        return
      }
      await rows.add('receipt', to, order.id)
      // After the grant's commit: the row is visible to the sender by then.
      setImmediate(kick)
    })
    // Every refund that returned money, from the desk or learnt from the provider, in its transaction.
    orders.onRefunded(async (order, refund) => {
      const to = await rows.recipientOf(order, null)
      if (to === null) {
        log.warn({ orderId: order.id }, 'refunded order has no email address: no refund notice is sent')
        return
      }
      await rows.add('refund', to, order.id, new Date(), { cents: refund.amountCents, accessKept: refund.accessKept })
      setImmediate(kick)
    })
  }

  return {
    listen,

    /** A receipt again (the admin's resend): the new row's id, or null when there is nobody to send it to. */
    async queueReceipt (orderId: string): Promise<number | null> {
      const order = await orders.find(orderId)
      if (order === undefined) return null
      const to = await rows.recipientOf(order, null)
      if (to === null) return null
      const id = await rows.add('receipt', to, orderId)
      setImmediate(kick)
      return id
    },

    /** Fresh links for every paid purchase of the address, at most LINKS_PER_HOUR mails an hour. */
    async queueLinks (email: string): Promise<LinksOutcome> {
      return await runner.transaction(async (): Promise<LinksOutcome> => {
        if ((await rows.paidOrdersOf(email)).length === 0) return 'none'
        if (await rows.countSince('links', email, new Date(Date.now() - HOUR_MS)) >= LINKS_PER_HOUR) return 'limited'
        await rows.add('links', email, null)
        setImmediate(kick)
        return 'queued'
      })
    }
  }
}
