import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database } from '../../db/types.js'
import type { Payments } from './providers/contract.js'

/**
 * The provider's invoice for an order (Stripe makes one per payment when the store's `invoices`
 * setting is on): the order keeps its id from the grant; its hosted page is asked of the
 * provider the first time a receipt or the thank-you page links to it, then kept on the order.
 */
export function createInvoices (deps: { db: Kysely<Database>, runner: Runner, payments: Payments, log: FastifyBaseLogger }) {
  const { db, runner, payments, log } = deps
  return {
    /**
     * The invoice's hosted page for the order; null when it has no invoice, or the provider
     * cannot be asked just now (the receipt and the page then go without the link).
     */
    async url (orderId: string): Promise<string | null> {
      const order = await runner.first(db.selectFrom('orders').select(['invoice_id', 'invoice_url']).where('id', '=', orderId))
      if (order === undefined || order.invoice_id === null) return null
      if (order.invoice_url !== null) return order.invoice_url
      let url: string | null
      try {
        url = await payments.invoiceUrl(order.invoice_id)
      } catch (error) {
        log.warn({ err: error, orderId, invoiceId: order.invoice_id }, 'could not read the invoice from the payment provider')
        return null
      }
      if (url === null || !/^https?:\/\//.test(url)) return null
      await runner.run(db.updateTable('orders').set({ invoice_url: url }).where('id', '=', orderId).where('invoice_url', 'is', null))
      return url
    }
  }
}

export type Invoices = ReturnType<typeof createInvoices>
