import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Database, Order, OrderEvent, PaymentProviderName } from '../../db/types.js'
import type { SessionFacts } from './providers/contract.js'

/**
 * What an order is and what can happen to it: the outcomes of fulfilment, events and refunds,
 * and what the use-case files (fulfil.ts, refunds.ts, webhook-events.ts, payment-links.ts,
 * timeline.ts) share. Imports nothing of its siblings, so none of them import each other in a circle.
 */

export type FulfilOutcome =
  | 'granted' // this call moved the order to paid and put the item in the library
  | 'already_paid' // an earlier or concurrent call did it: still a success
  | 'processing' // an asynchronous payment (bank transfer) has not settled yet
  | 'mismatch' // amount or currency differ from the order: nothing granted, order held for review
  | 'not_payable' // the order was failed, expired, refunded or is under review
  | 'unknown_order'

export interface FulfilResult {
  outcome: FulfilOutcome
  order: Order | undefined
}

export type EventOutcome = FulfilOutcome | 'duplicate' | 'failed' | 'expired' | 'refunded' | 'already_refunded' | 'partial_refund' | 'ignored'

/**
 * What became of a webhook delivery, for whoever observes the webhook routes (the metrics
 * module reads `request.webhookOutcome` when the answer has gone): applied to our orders, a
 * duplicate of one already applied, ignored (not a type we handle, not one of our payments) or
 * rejected (no valid signature or body). Null on every other request.
 */
export type WebhookOutcome = 'applied' | 'duplicate' | 'ignored' | 'rejected'

/** Which path brought a Checkout Session to fulfil: the buyer's return, or Stripe's event. */
export type FulfilVia = { source: 'redirect' } | { source: 'webhook', eventId: string, type: string }

/**
 * What an order's timeline records (order_events.kind): created, its Checkout Session attached,
 * a success redirect or webhook event that touched it (detail: the outcome), a refund by the
 * admin, and the ends that came from neither (Stripe refused the session; found expired).
 */
export type OrderEventKind = 'created' | 'session' | 'redirect' | 'webhook' | 'refund' | 'failed' | 'expired'

export interface RefundRecord {
  /** refunded: in full now (access revoked); partially_refunded: some of it, access kept. */
  outcome: 'refunded' | 'partially_refunded' | 'already_refunded' | 'unknown_order'
  /** Another paid order of the same buyer for the same item that keeps their access. */
  keptBy: string | null
  /** How much of the order is refunded now, in minor units. */
  refundedCents: number
}

/**
 * One refund as the order learnt it (from the desk or the provider), told to the refund
 * listeners: what it returned, the order's refunded total with it, whether that was the last
 * of it, and whether the buyer still has the item afterwards (null: the order was never
 * granted, so they never had it through this order).
 */
export interface RefundFacts {
  amountCents: number
  refundedCents: number
  full: boolean
  accessKept: boolean | null
  keptBy: string | null
}

/** Called inside the grant's transaction, with the order as granted (see orders.onGranted). */
export type GrantListener = (order: Order, session: SessionFacts) => Promise<void>
/** Called inside the transaction of each refund that returned money (see orders.onRefunded). */
export type RefundListener = (order: Order, refund: RefundFacts) => Promise<void>

/** An order's timeline (order_events); every line is written in the transaction of the change it records. */
export interface Timeline {
  note: (orderId: string, kind: OrderEventKind, detail?: string | null) => Promise<void>
  /** A redirect or webhook event that touched the order, with its outcome. */
  noteVia: (orderId: string, via: FulfilVia, outcome: EventOutcome) => Promise<void>
  /** The order's timeline, oldest first. */
  events: (orderId: string) => Promise<OrderEvent[]>
}

/** What every use case of the orders works with. */
export interface OrdersContext {
  db: Kysely<Database>
  runner: Runner
  log: FastifyBaseLogger
  /** The payment provider new orders are made with. */
  provider: PaymentProviderName
  timeline: Timeline
  grantListeners: GrantListener[]
  refundListeners: RefundListener[]
}

export { paidOf } from '../../db/order-amounts.js'

export const orderById = (db: Kysely<Database>, id: string) => db.selectFrom('orders').selectAll().where('id', '=', id)

/**
 * What a transaction decides from an order's row holds until its commit: on PostgreSQL the row
 * is locked (FOR NO KEY UPDATE, as an UPDATE of it would), so a concurrent refund, event or
 * redirect for the same order waits and then reads the outcome; SQLite's BEGIN IMMEDIATE already
 * lets one writer in at a time.
 */
export const locked = <Q extends { forNoKeyUpdate(): Q }>(runner: Runner, query: Q): Q => runner.dialect === 'postgres' ? query.forNoKeyUpdate() : query

/** A refund remembered by payment (refunds.payment_intent), even before its order is known. */
export const refundOf = (db: Kysely<Database>, paymentId: string) => db.selectFrom('refunds').select('payment_intent').where('payment_intent', '=', paymentId)
