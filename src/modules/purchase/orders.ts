import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, Order, OrderLine, PaymentProviderName, TaxBehavior } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { createFulfilment } from './fulfil.js'
import type { GrantListener, OrdersContext, RefundListener } from './model.js'
import { orderById } from './model.js'
import { recordRefund } from './refunds.js'
import { createTimeline } from './timeline.js'
import { createWebhookEvents } from './webhook-events.js'

export type { EventOutcome, FulfilOutcome, FulfilResult, FulfilVia, OrderEventKind, RefundFacts, RefundRecord } from './model.js'
export { paidOf } from './model.js'

const CHECKOUT_LIFETIME_MS = 24 * 60 * 60 * 1000

/** A line of a new order: an item or bundle, at the amount it is sold for. */
export interface NewLine { content: Content, amount: number }

/**
 * The orders: their life before payment here (created pending, the provider's checkout
 * attached, abandoned or expired), and the use cases that move them on, each in its own file:
 * fulfil.ts (the one fulfilment path), webhook-events.ts (events applied exactly once),
 * refunds.ts (refund revokes access), timeline.ts (order_events), payment-links.ts,
 * promotion-codes.ts.
 */
export function createOrders (deps: { db: Kysely<Database>, runner: Runner, log: FastifyBaseLogger, provider: PaymentProviderName }) {
  const { db, runner } = deps
  const ctx: OrdersContext = { ...deps, timeline: createTimeline(db, runner), grantListeners: [], refundListeners: [] }
  const fulfilment = createFulfilment(ctx)
  const events = createWebhookEvents(ctx, fulfilment)

  return {
    /**
     * Work that must happen exactly when an order is granted, in the same transaction (a
     * receipt into the outbox): awaited inside that transaction (so it awaits nothing but
     * queries), and a throw undoes the grant.
     */
    onGranted (listener: GrantListener): void {
      ctx.grantListeners.push(listener)
    },

    /**
     * Work that must happen exactly when a refund returns money (a refund notice into the
     * outbox), whether the desk made it or the provider told of it: once per refund, awaited in
     * the transaction that records it, with the order as refunded.
     */
    onRefunded (listener: RefundListener): void {
      ctx.refundListeners.push(listener)
    },

    // The rule for the transaction boundary: a name alone opens its own transaction
    // (fulfil, applyEvent); ...InTransaction runs in the caller's; queueEvent shares a group commit.
    fulfil: fulfilment.fulfil,
    applyEvent: events.applyEvent,
    queueEvent: events.queueEvent,
    recordRefund: async (orderId: string, refundId: string | null, totalCents?: number) => await recordRefund(ctx, orderId, refundId, totalCents),
    events: ctx.timeline.events,
    ...createOrderRecords(ctx)
  }
}

/** An order's life before payment: created, its checkout attached, abandoned or expired; and finding it. */
function createOrderRecords ({ db, runner, provider, timeline }: OrdersContext) {
  /** Moves a still-pending order to `status`, noting why; nothing when it has moved on. */
  async function end (orderId: string, status: 'failed' | 'expired', why: string): Promise<void> {
    await runner.transaction(async () => {
      if ((await runner.run(db.updateTable('orders').set({ status }).where('id', '=', orderId).where('status', '=', 'pending'))).changes > 0) {
        await timeline.note(orderId, status, why)
      }
    })
  }

  async function createWithLines (userId: number, lines: NewLine[], taxBehavior: TaxBehavior | null = null): Promise<Order> {
    const first = lines[0]
    if (first === undefined) throw new DomainError('invalid', 'An order needs at least one item.')
    if (lines.some((l) => l.content.currency !== first.content.currency)) throw new DomainError('invalid', 'Items priced in different currencies cannot be paid together.')
    return await runner.transaction(async () => {
      const order = (await runner.first(db.insertInto('orders').values({
        id: randomUUID(), user_id: userId, content_id: first.content.id, amount_cents: lines.reduce((sum, l) => sum + l.amount, 0), currency: first.content.currency, provider, tax_behavior: taxBehavior
      }).returningAll()))!
      await runner.run(db.insertInto('order_lines').values(lines.map((l, index) => ({
        order_id: order.id, line: index + 1, content_id: l.content.id, amount_cents: l.amount, currency: l.content.currency
      }))))
      await timeline.note(order.id, 'created')
      return order
    })
  }

  return {
    /**
     * A pending order, created before the provider is called: at our price, or at the amount the
     * buyer named for a pay-what-you-want item (checked by the caller against its minimum); with
     * the tax behaviour its checkout asks the provider for (null: no automatic tax).
     */
    async create (userId: number, content: Content, amount = content.price_cents, taxBehavior: TaxBehavior | null = null): Promise<Order> {
      return await createWithLines(userId, [{ content, amount }], taxBehavior)
    },

    /**
     * A pending order of several lines (a cart), each an item or bundle at the amount it is sold
     * for (checked by the caller); the order's item is line 1's, its amount the sum of the lines.
     */
    createWithLines,

    /** The order's lines, in order. */
    async lines (orderId: string): Promise<OrderLine[]> {
      return await runner.all(db.selectFrom('order_lines').selectAll().where('order_id', '=', orderId).orderBy('line'))
    },

    /** The provider's checkout for the order: a Stripe Checkout Session, a Mollie payment. */
    async attachCheckout (orderId: string, checkoutId: string): Promise<void> {
      await runner.transaction(async () => {
        if ((await runner.run(db.updateTable('orders').set({ provider_checkout_id: checkoutId }).where('id', '=', orderId))).changes > 0) await timeline.note(orderId, 'session', checkoutId)
      })
    },

    /** Stripe refused to create a session: the order will never be paid, so it is not left pending. */
    async abandon (orderId: string): Promise<void> {
      await end(orderId, 'failed', 'the payment provider refused to open a checkout')
    },

    /** A pending order whose Checkout Session has ended without payment. */
    async expire (orderId: string): Promise<void> {
      await end(orderId, 'expired', 'its Checkout Session had expired when the buyer came back')
    },

    async find (orderId: string): Promise<Order | undefined> {
      return await runner.first(orderById(db, orderId))
    },

    /** The order of the provider's checkout (a Checkout Session, a Mollie payment). */
    async byCheckoutId (checkoutId: string): Promise<Order | undefined> {
      return await runner.first(db.selectFrom('orders').selectAll().where('provider_checkout_id', '=', checkoutId))
    },

    /**
     * The user's latest checkout for the item that may still be open: pending, with a session,
     * younger than a Checkout Session lives (24 hours).
     */
    async openFor (userId: number, contentId: number, now = new Date()): Promise<Order | undefined> {
      return await runner.first(db.selectFrom('orders').selectAll()
        .where('user_id', '=', userId).where('content_id', '=', contentId)
        .where('status', '=', 'pending').where('provider_checkout_id', 'is not', null)
        .where('created_at', '>', new Date(now.getTime() - CHECKOUT_LIFETIME_MS).toISOString())
        // A cart's checkout is the cart's, not this item's alone.
        .where((eb) => eb.not(eb.exists(eb.selectFrom('order_lines').select('line').whereRef('order_lines.order_id', '=', 'orders.id').where('order_lines.line', '=', 2))))
        .orderBy('created_at', 'desc').limit(1))
    },

    /** The user's latest open checkouts (as openFor) whose line 1 is this item: a cart's candidates to resume. */
    async openCartsFor (userId: number, contentId: number, now = new Date()): Promise<Order[]> {
      return await runner.all(db.selectFrom('orders').selectAll()
        .where('user_id', '=', userId).where('content_id', '=', contentId)
        .where('status', '=', 'pending').where('provider_checkout_id', 'is not', null)
        .where('created_at', '>', new Date(now.getTime() - CHECKOUT_LIFETIME_MS).toISOString())
        .orderBy('created_at', 'desc').limit(5))
    }
  }
}

export type Orders = ReturnType<typeof createOrders>
