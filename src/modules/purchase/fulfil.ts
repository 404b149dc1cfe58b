import type { InsertResult, SqlBool } from 'kysely'
import { paidOf, storedTaxIds } from '../../db/order-amounts.js'
import { prepared } from '../../db/prepared.js'
import type { Order } from '../../db/types.js'
import { GUEST_SESSION_PROVIDER, guestAddress, guestEmailUser } from './guests.js'
import { type FulfilResult, type FulfilVia, locked, orderById, type OrdersContext, refundOf } from './model.js'
import { paymentLinkOrderInTransaction } from './payment-links.js'
import { belowMinimum, minimumOf } from './promotion-codes.js'
import type { SessionFacts } from './providers/contract.js'
import { lineShares } from './lines.js'

/**
 * The one fulfilment path, for the success redirect and the webhook alike: the order moves
 * pending -> paid at most once, its amounts checked against what was paid, and the library row
 * is inserted at most once; a second caller, concurrent or late, changes nothing and still
 * learns that the order is paid.
 */
export interface Fulfilment {
  /** Fulfils in a transaction of its own; the timeline notes `via` (default: the buyer's return). */
  fulfil: (session: SessionFacts, via?: FulfilVia) => Promise<FulfilResult>
  /**
   * Fulfils inside the caller's transaction (a webhook event's): no savepoint of its own. The
   * timeline notes `via`; null: the caller writes the line.
   */
  fulfilInTransaction: (session: SessionFacts, via: FulfilVia | null) => Promise<FulfilResult>
}

/** The order a session names, with what fulfilling it needs besides (undefined: not read). */
interface Found {
  order: Order | undefined
  /** The buyer's provider: a guest's purchase changes hands. */
  buyerProvider?: string | null
  /** The payment was refunded before (the refund's event overtook this one). */
  refundedFirst?: boolean
  /** The item's pay-what-you-want minimum, null for a fixed price. */
  minimum?: number | null
}

type Statements = ReturnType<typeof statements>

/** The statements of every fulfilment, compiled once (see prepared()). */
function statements ({ db, runner }: OrdersContext) {
  return {
    /** The order, locked, and in the same statement its buyer's provider, an earlier refund and the item's minimum. */
    orderToFulfil: prepared<[orderId: string, paymentIntent: string], Order & { buyer_provider: string | null, refunded_first: SqlBool, minimum_cents: number | null }>((arg) => locked(runner, db.selectFrom('orders').selectAll('orders')
      .select((eb) => [
        eb.selectFrom('users').select('provider').whereRef('users.id', '=', 'orders.user_id').as('buyer_provider'),
        eb.exists(refundOf(db, arg<string>(1))).as('refunded_first'),
        minimumOf(eb.selectFrom('content').whereRef('content.id', '=', 'orders.content_id')).as('minimum_cents')
      ])
      .where('orders.id', '=', arg<string>(0)))),
    grantOrder: prepared<[id: string, paidAt: string, paymentIntent: string | null, sessionId: string, owner: number, discount: number, tax: number, country: string | null, taxIds: string | null, invoiceId: string | null], Order>((arg) =>
      db.updateTable('orders')
        .set({
          status: 'paid',
          paid_at: arg<string>(1),
          provider_payment_id: arg<string | null>(2),
          provider_checkout_id: arg<string>(3),
          user_id: arg<number>(4),
          discount_cents: arg<number>(5),
          tax_cents: arg<number>(6),
          buyer_country: arg<string | null>(7),
          buyer_tax_ids: arg<string | null>(8),
          invoice_id: arg<string | null>(9)
        })
        .where('id', '=', arg<string>(0)).where('status', '=', 'pending')
        .returningAll()),
    /**
     * What the order grants into the buyer's library: the item itself, or every item of a bundle
     * (never the bundle: it has no file). An item already held keeps the order that granted it.
     */
    addToLibrary: prepared<[userId: number, contentId: number, orderId: string, grantedAt: string, line: number], InsertResult>((arg) =>
      db.insertInto('library')
        .columns(['user_id', 'content_id', 'order_id', 'granted_at', 'line'])
        .expression(db.selectFrom('content')
          .leftJoin('bundle_items', 'bundle_items.bundle_id', 'content.id')
          .select((eb) => [
            eb.cast<number>(eb.val(arg<number>(0)), 'integer').as('user_id'),
            eb.fn.coalesce('bundle_items.item_id', 'content.id').as('content_id'),
            eb.cast<string>(eb.val(arg<string>(2)), 'text').as('order_id'),
            eb.cast<string>(eb.val(arg<string>(3)), 'text').as('granted_at'),
            eb.cast<number>(eb.val(arg<number>(4)), 'integer').as('line')
          ])
          .where('content.id', '=', arg<number>(1))
          .where((eb) => eb.or([eb('content.kind', '=', 'item'), eb('bundle_items.item_id', 'is not', null)])))
        .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing())),
    linesOf: prepared<[orderId: string], { line: number, content_id: number, amount_cents: number }>((arg) =>
      db.selectFrom('order_lines').select(['line', 'content_id', 'amount_cents']).where('order_id', '=', arg<string>(0)).orderBy('line'))
  }
}

export function createFulfilment (ctx: OrdersContext): Fulfilment {
  const q = statements(ctx)

  async function fulfilInTransaction (session: SessionFacts, via: FulfilVia | null): Promise<FulfilResult> {
    const result = await fulfilSession(ctx, q, session)
    // A session that is not this order's touched nothing of it: nothing on its timeline.
    if (via !== null && result.order !== undefined && result.outcome !== 'unknown_order') await ctx.timeline.noteVia(result.order.id, via, result.outcome)
    return result
  }

  return {
    fulfilInTransaction,
    async fulfil (session, via = { source: 'redirect' }) {
      return await ctx.runner.transaction(async () => await fulfilInTransaction(session, via))
    }
  }
}

async function orderOf (ctx: OrdersContext, q: Statements, session: SessionFacts): Promise<Found> {
  if (session.orderId !== null) {
    const found = await ctx.runner.first(q.orderToFulfil(session.orderId, session.paymentIntent ?? ''))
    if (found === undefined) return { order: undefined }
    const { buyer_provider: buyerProvider, refunded_first: refunded, minimum_cents: minimum, ...order } = found
    return { order, buyerProvider, refundedFirst: session.paymentIntent !== null && Boolean(refunded), minimum }
  }
  if (session.paymentLink != null) return { order: await paymentLinkOrderInTransaction(ctx, session) }
  return { order: undefined }
}

async function fulfilSession (ctx: OrdersContext, q: Statements, session: SessionFacts): Promise<FulfilResult> {
  const found = await orderOf(ctx, q, session)
  const order = found.order
  if (order === undefined || (order.provider_checkout_id !== null && order.provider_checkout_id !== session.id)) {
    ctx.log.warn({ sessionId: session.id, orderId: session.orderId }, 'checkout session does not belong to a known order')
    return { outcome: 'unknown_order', order }
  }
  if (order.status === 'paid') return { outcome: 'already_paid', order }
  if (order.status !== 'pending') return { outcome: 'not_payable', order }
  return await refusal(ctx, order, session, found) ?? await grant(ctx, q, order, session, found.buyerProvider)
}

/** Why a pending order is not granted for this session (ended, settling, refunded, amounts), with what that did to it; undefined: grant it. */
async function refusal (ctx: OrdersContext, order: Order, session: SessionFacts, found: Found): Promise<FulfilResult | undefined> {
  const { db, runner, log } = ctx
  const pending = db.updateTable('orders').where('id', '=', order.id).where('status', '=', 'pending')
  const now = async (): Promise<Order | undefined> => await runner.first(orderById(db, order.id))
  if (session.ended != null) {
    // Failed, canceled or expired at the provider (Mollie's return says so): the order ends too.
    await runner.run(pending.set({ status: session.ended }))
    return { outcome: 'not_payable', order: await now() }
  }
  // A promotion code that takes the whole price off: Stripe completes the session without a payment.
  const settled = session.paymentStatus === 'paid' || (session.paymentStatus === 'no_payment_required' && session.amountTotal === 0)
  if (!settled) {
    if (session.paymentIntent !== null && order.provider_payment_id === null) {
      await runner.run(pending.set({ provider_payment_id: session.paymentIntent, provider_checkout_id: session.id }))
    }
    return { outcome: 'processing', order }
  }
  const refundedFirst = found.refundedFirst ?? (session.paymentIntent !== null && await runner.first(refundOf(db, session.paymentIntent)) !== undefined)
  if (session.refunded === true || refundedFirst) {
    // The refund overtook this event: the money went back, so nothing is granted.
    const refunded = paidOf({ ...order, discount_cents: session.amountDiscount ?? 0, tax_cents: session.amountTax ?? 0 })
    await runner.run(pending.set({ status: 'refunded', refunded_cents: refunded, tax_cents: session.amountTax ?? 0, provider_payment_id: session.paymentIntent, provider_checkout_id: session.id }))
    log.warn({ orderId: order.id, paymentIntent: session.paymentIntent }, 'payment was refunded before it was fulfilled: nothing granted')
    return { outcome: 'not_payable', order: await now() }
  }
  if (!amountsAgree(order, session)) {
    log.warn({
      orderId: order.id,
      sessionId: session.id,
      expected: { amount: order.amount_cents, currency: order.currency },
      received: { amount: session.amountTotal, subtotal: session.amountSubtotal, discount: session.amountDiscount, tax: session.amountTax, currency: session.currency },
      taxBehavior: order.tax_behavior
    }, 'paid amount or currency differs from the order: nothing granted, order held for review')
    await runner.run(pending.set({ status: 'review', provider_payment_id: session.paymentIntent }))
    return { outcome: 'mismatch', order: await now() }
  }
  // A discount (a promotion code) must not take a pay-what-you-want item below its minimum.
  const minimum = found.minimum !== undefined ? found.minimum : (await runner.first(minimumOf(db.selectFrom('content').where('content.id', '=', order.content_id))))?.min_price_cents ?? null
  if (belowMinimum(minimum, session)) {
    log.warn({
      orderId: order.id, sessionId: session.id, minimum, received: { amount: session.amountTotal, subtotal: session.amountSubtotal, discount: session.amountDiscount }
    }, 'paid total is below the pay-what-you-want minimum: nothing granted, order held for review')
    await runner.run(pending.set({ status: 'review', provider_payment_id: session.paymentIntent }))
    return { outcome: 'mismatch', order: await now() }
  }
  return undefined
}

/**
 * The amounts agree with the order: before discounts and tax the order's amount; the total that
 * amount less the discount (a promotion code), plus the tax when it is added on top (exclusive;
 * inclusive tax is inside the amount); in the order's currency.
 */
function amountsAgree (order: Order, session: SessionFacts): boolean {
  const discount = session.amountDiscount ?? 0
  const tax = session.amountTax ?? 0
  const subtotal = session.amountSubtotal ?? session.amountTotal
  const added = order.tax_behavior === 'exclusive' ? tax : 0
  return Number.isSafeInteger(discount) && discount >= 0 &&
    Number.isSafeInteger(tax) && tax >= 0 &&
    subtotal === order.amount_cents &&
    session.amountTotal === order.amount_cents - discount + added &&
    tax <= (session.amountTotal ?? 0) &&
    session.currency?.toLowerCase() === order.currency
}

/** Pending -> paid, the item (a bundle's items) into the buyer's library, and the grant listeners (a receipt), in the caller's transaction. */
async function grant (ctx: OrdersContext, q: Statements, order: Order, session: SessionFacts, buyerProvider: string | null | undefined): Promise<FulfilResult> {
  const { runner } = ctx
  const paidAt = new Date().toISOString()
  const owner = await buyerOf(ctx, order, session, buyerProvider)
  // One statement moves the order and returns it as granted; none moved it: paid already.
  const granted = await runner.first(q.grantOrder(order.id, paidAt, session.paymentIntent, session.id, owner, session.amountDiscount ?? 0,
    session.amountTax ?? 0, countryOf(session.customerCountry), storedTaxIds(session.customerTaxIds), session.invoiceId ?? null))
  if (granted === undefined) return { outcome: 'already_paid', order: await runner.first(orderById(ctx.db, order.id)) }
  await grantLines(ctx, q, granted, owner, paidAt)
  // In the same transaction as the grant: what must follow it (a receipt) is never lost.
  for (const listener of ctx.grantListeners) await listener(granted, session)
  ctx.log.info({ orderId: order.id, sessionId: session.id }, 'order paid and granted')
  return { outcome: 'granted', order: granted }
}

/**
 * Every line's item (a bundle's items) into the buyer's library, each row naming its line, and
 * each line's share of the discount and tax recorded; in the grant's transaction. An order
 * without lines (none are made so since migrations/0021) grants its item as line 1.
 */
async function grantLines (ctx: OrdersContext, q: Statements, order: Order, owner: number, paidAt: string): Promise<void> {
  const { db, runner } = ctx
  const lines = await runner.all(q.linesOf(order.id))
  if (lines.length === 0) {
    await runner.run(q.addToLibrary(owner, order.content_id, order.id, paidAt, 1))
    return
  }
  const shares = lineShares(lines, order.discount_cents, order.tax_cents)
  for (const [index, line] of lines.entries()) {
    const share = shares[index]!
    await runner.run(db.updateTable('order_lines').set({ discount_cents: share.discountCents, tax_cents: share.taxCents })
      .where('order_id', '=', order.id).where('line', '=', line.line))
    await runner.run(q.addToLibrary(owner, line.content_id, order.id, paidAt, line.line))
  }
}

/** A country code as the order keeps it (ISO 3166-1 alpha-2, upper case); null when it is not one. */
function countryOf (country: string | null | undefined): string | null {
  const code = country?.trim().toUpperCase() ?? ''
  return /^[A-Z]{2}$/.test(code) ? code : null
}

/**
 * Who the granted order belongs to: its user, except for a browser's guest checkout, which
 * becomes the purchase of the address Stripe collected (see guests.ts). Without an address
 * (Stripe always collects one) it stays with the browser that bought it.
 */
async function buyerOf (ctx: OrdersContext, order: Order, session: SessionFacts, provider: string | null | undefined): Promise<number> {
  const { db, runner } = ctx
  const buyer = provider !== undefined ? provider : (await runner.first(db.selectFrom('users').select('provider').where('id', '=', order.user_id)))?.provider
  if (buyer !== GUEST_SESSION_PROVIDER) return order.user_id
  const address = guestAddress(session.customerEmail)
  if (address === null) {
    ctx.log.warn({ orderId: order.id, sessionId: session.id }, 'guest checkout paid without an email: the purchase stays with the browser that made it')
    return order.user_id
  }
  return (await guestEmailUser(db, runner, address)).id
}
