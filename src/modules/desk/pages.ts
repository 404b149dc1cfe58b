import type { OrderStatus } from '../../db/types.js'
import type { priceInput } from '../../lib/money.js'
import type { AddressStatus } from '../audience/plugin.js'
import type { RefundQuote } from '../purchase/plugin.js'
import type { SalesChart } from './sales-chart.js'
import type { CustomersPage, Dashboard, OrderDetail, OrderFilter, OrderRow, OrdersPage } from './sales.js'

/** The refund's confirm page (GET and POST /admin/orders/<id>/refund). */
export interface RefundForm {
  order: OrderRow
  quote: RefundQuote
  /** The amount field: what remains to refund, or what the admin typed. */
  amount: string
  /** The amount already refunded as this page shows it (sent back with the form). */
  refunded: string
  input: ReturnType<typeof priceInput>
  problem: string | null
  amountProblem: string | null
  /** The buyer is emailed a refund notice (SMTP configured). */
  notify: boolean
}

// The pages this module renders, and their data (see PageData in src/http/page.ts).
declare module '../../http/page.js' {
  interface PageData {
    'pages/admin-dashboard.eta': { dashboard: Dashboard, chart: SalesChart, flushable: boolean }
    'pages/admin-flush.eta': object
    'pages/admin-orders.eta': { page: OrdersPage, filter: OrderFilter, statuses: readonly OrderStatus[], csvHref: string, newerHref: string | null, olderHref: string | null }
    'pages/admin-order.eta': OrderDetail & { refundable: boolean, problem: string | null, receipts: { enabled: boolean, sent: number, waiting: number, days: number } }
    'pages/admin-refund.eta': RefundForm
    /** audience[i]: the consent and unsubscribed state of page.customers[i]. */
    'pages/admin-customers.eta': { page: CustomersPage, currency: string, audience: AddressStatus[] }
  }
}
