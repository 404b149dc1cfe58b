import type { FastifyBaseLogger } from 'fastify'
import type { Order } from '../../db/types.js'
import { DomainError } from '../../lib/errors.js'
import { decimals, formatAmount, parsePrice, toDecimal } from '../../lib/money.js'
import type { Fulfilment } from './fulfil.js'
import { type EventOutcome, locked, orderById, type OrdersContext, paidOf, type RefundFacts, type RefundRecord } from './model.js'
import type { Payments, RefundEvent } from './providers/contract.js'

/**
 * Refunds: what a refund does to an order (below: the refunded amount, and access revoked when
 * all of it went back) and the admin's refund service for the desk (createRefunds).
 */

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

/*
 * Refund revokes access. A refund, whether the desk made it (recordRefund) or the provider told
 * of it (applyRefundEventInTransaction), brings the order's refunded amount up to what went back;
 * all of what was paid makes the order refunded and takes the item out of the buyer's library at
 * once (revokeAccess), unless another paid order of theirs for the same item keeps it.
 */

/**
 * The order becomes refunded and its buyer loses access at once to what it granted (the item, or
 * a bundle's items), except what another paid order of theirs grants too: bought twice, or held
 * through a bundle, or a bundle's item bought on its own as well. Each such library row moves to
 * that order. Returns the order that keeps access to everything this one granted, or null when
 * something was revoked (or nothing was granted). Run inside the caller's transaction.
 */
export async function revokeAccess (ctx: OrdersContext, order: Order): Promise<string | null> {
  const { db, runner, log } = ctx
  await runner.run(db.updateTable('orders').set({ status: 'refunded', refunded_cents: paidOf(order) }).where('id', '=', order.id).where('status', 'in', ['pending', 'paid', 'review']))
  // Another paid order of the buyer that grants this item: directly, or through a bundle holding it.
  const otherFor = async (itemId: number) => await runner.first(db.selectFrom('orders').select('id')
    .where('user_id', '=', order.user_id).where('status', '=', 'paid').where('id', '!=', order.id)
    .where((eb) => eb.or([
      eb('content_id', '=', itemId),
      eb('content_id', 'in', eb.selectFrom('bundle_items').select('bundle_id').where('item_id', '=', itemId))
    ]))
    .orderBy('paid_at').orderBy('id').limit(1))
  const rows = await runner.all(db.selectFrom('library').select('content_id').where('user_id', '=', order.user_id).where('order_id', '=', order.id))
  // Bought twice (two tabs, say), the library row on the other order: that order keeps access.
  if (rows.length === 0) return (await otherFor(order.content_id))?.id ?? null
  const kept = new Set<string>()
  let revoked = 0
  for (const { content_id: itemId } of rows) {
    const other = await otherFor(itemId)
    if (other !== undefined) {
      await runner.run(db.updateTable('library').set({ order_id: other.id }).where('user_id', '=', order.user_id).where('content_id', '=', itemId))
      kept.add(other.id)
    } else {
      await runner.run(db.deleteFrom('library').where('user_id', '=', order.user_id).where('content_id', '=', itemId))
      revoked++
    }
  }
  const keptBy = revoked === 0 && kept.size > 0 ? [...kept][0]! : null
  if (kept.size > 0) log.info({ orderId: order.id, keptBy: [...kept], revoked }, 'order refunded; access kept by another paid order')
  else log.info({ orderId: order.id, revoked }, 'order refunded and access revoked')
  return keptBy
}

/** Remembered by payment: a completed event for it that comes later grants nothing. */
async function rememberRefund (ctx: OrdersContext, paymentId: string): Promise<void> {
  await ctx.runner.run(ctx.db.insertInto('refunds').values({ payment_intent: paymentId }).onConflict((oc) => oc.column('payment_intent').doNothing()))
}

/**
 * Brings the order's refunded amount up to `total` (never down: a refund learnt twice, or a
 * provider's older total arriving late, changes nothing). All of what was paid makes the order
 * refunded and revokes access (revokeAccess); less keeps it. A refund that returned money is
 * told to the refund listeners (a notice into the outbox) in this transaction. Runs inside the
 * caller's transaction, on the order's locked row; null when nothing changed.
 */
async function applyRefund (ctx: OrdersContext, order: Order, total: number): Promise<RefundFacts | null> {
  const { db, runner } = ctx
  const paid = paidOf(order)
  const refundedCents = Math.min(Math.max(total, order.refunded_cents), paid)
  const amountCents = refundedCents - order.refunded_cents
  const full = refundedCents >= paid
  if (order.status === 'refunded' || (amountCents === 0 && !full)) return null
  if (amountCents > 0) await runner.run(db.updateTable('orders').set({ refunded_cents: refundedCents }).where('id', '=', order.id))
  let keptBy: string | null = null
  if (full) {
    // Remembered by payment, as a refund learnt from the provider is: a late completed event grants nothing.
    if (order.provider_payment_id !== null) await rememberRefund(ctx, order.provider_payment_id)
    keptBy = await revokeAccess(ctx, order)
  }
  const granted = order.status === 'paid'
  // Still holding the item, or (a bundle) any of its items.
  const holds = granted && await runner.first(db.selectFrom('library').select('order_id')
    .where('user_id', '=', order.user_id)
    .where((eb) => eb.or([
      eb('content_id', '=', order.content_id),
      eb('content_id', 'in', eb.selectFrom('bundle_items').select('item_id').where('bundle_id', '=', order.content_id))
    ]))) !== undefined
  const facts: RefundFacts = { amountCents, refundedCents, full, accessKept: granted ? holds : null, keptBy }
  if (amountCents > 0) {
    const now = { ...order, refunded_cents: refundedCents, status: full ? 'refunded' as const : order.status }
    for (const listener of ctx.refundListeners) await listener(now, facts)
  }
  return facts
}

/**
 * The payment provider made the admin's refund (refundId: its refund, null when it said the
 * payment was already refunded in full), bringing what is refunded of the order to
 * `totalCents` (absent: all of it). One transaction: the order's refunded amount grows to
 * that total (never shrinks); all of it makes the order refunded, remembers the refund by
 * payment (the provider's later event changes nothing more) and revokes access at once (kept
 * by another paid order of the same item); the timeline says so. A second call for the same
 * refund (a double click, the idempotent replay) changes nothing.
 */
export async function recordRefund (ctx: OrdersContext, orderId: string, refundId: string | null, totalCents?: number): Promise<RefundRecord> {
  const { db, runner, timeline } = ctx
  return await runner.transaction(async () => {
    const order = await runner.first(locked(runner, orderById(db, orderId)))
    if (order === undefined) return { outcome: 'unknown_order', keptBy: null, refundedCents: 0 }
    const paid = paidOf(order)
    const total = refundId === null || totalCents === undefined ? paid : Math.min(totalCents, paid)
    const amount = formatAmount(Math.max(total - order.refunded_cents, 0), order.currency)
    const applied = await applyRefund(ctx, order, total)
    const outcome = (full: boolean): RefundRecord['outcome'] => full ? 'refunded' : 'partially_refunded'
    if (applied === null) {
      // The provider's event for this very refund can overtake its answer (the demo's
      // emulator delivers at once): the refund is still the admin's, on the timeline once.
      const detail = refundId === null ? 'by the admin (Stripe had already refunded the charge)' : `by the admin (${refundId})`
      const noted = await runner.first(db.selectFrom('order_events').select('id')
        .where('order_id', '=', order.id).where('kind', '=', 'refund').where('detail', 'like', `%${detail}`))
      const done = { keptBy: null, refundedCents: order.refunded_cents }
      if (refundId === null || noted !== undefined) return { outcome: 'already_refunded', ...done }
      await timeline.note(order.id, 'refund', detail)
      return { outcome: outcome(order.status === 'refunded'), ...done }
    }
    await timeline.note(order.id, 'refund', refundId === null ? `${amount} by the admin (Stripe had already refunded the charge)` : `${amount} by the admin (${refundId})`)
    return { outcome: outcome(applied.full), keptBy: applied.keptBy, refundedCents: applied.refundedCents }
  })
}

/**
 * A refund the provider tells of (Stripe's charge.refunded, a Mollie payment's amountRefunded),
 * inside the caller's transaction (the event's): the order's refunded amount follows the
 * provider's total; all of it revokes access, part of it keeps it. Made from the desk first, it
 * changes nothing more.
 */
export async function applyRefundEventInTransaction (ctx: OrdersContext, fulfilment: Fulfilment, event: RefundEvent): Promise<{ outcome: EventOutcome, orderId?: string }> {
  const { db, runner, log } = ctx
  const { paymentIntent, refunded } = event
  if (paymentIntent === null) return { outcome: refunded ? 'ignored' : 'partial_refund' }
  // Mollie's payment id is both: a payment refunded before its order learnt it was paid.
  let order = await runner.first(locked(runner, db.selectFrom('orders').selectAll().where('provider_payment_id', '=', paymentIntent))) ??
    await runner.first(locked(runner, db.selectFrom('orders').selectAll().where('provider_checkout_id', '=', paymentIntent)))
  // Remembered even for a payment we do not know yet: its completed event may come later.
  if (refunded) await rememberRefund(ctx, paymentIntent)
  if (order === undefined) {
    if (refunded) log.warn({ paymentIntent }, 'refund for a payment we do not know yet: recorded, so it is never granted')
    return { outcome: refunded ? 'refunded' : 'partial_refund' }
  }
  // Refunded from the desk before the provider's event came: that refund already did everything.
  if (order.status === 'refunded') return { outcome: 'already_refunded', orderId: order.id }
  if (order.status === 'pending') {
    if (refunded) {
      await revokeAccess(ctx, order)
      return { outcome: 'refunded', orderId: order.id }
    }
    // Part of a payment refunded before we heard it was paid: the payment, as the provider
    // has it now, is granted first (Mollie's later notifications carry this state only).
    if (event.session === undefined) return { outcome: 'partial_refund', orderId: order.id }
    const fulfilled = await fulfilment.fulfilInTransaction(event.session, null)
    if (fulfilled.order === undefined || fulfilled.order.id !== order.id) return { outcome: 'partial_refund', orderId: order.id }
    order = fulfilled.order
  }
  if (order.status !== 'paid' && order.status !== 'review') return { outcome: 'ignored', orderId: order.id }
  // A partial refund whose total the provider did not say: nothing to record.
  if (!refunded && event.amountRefunded == null) return { outcome: 'partial_refund', orderId: order.id }
  const applied = await applyRefund(ctx, order, refunded ? paidOf(order) : event.amountRefunded!)
  if (applied === null) return { outcome: 'already_refunded', orderId: order.id }
  return { outcome: applied.full ? 'refunded' : 'partial_refund', orderId: order.id }
}

/** Orders the admin may refund: paid ones, and paid ones held for review (amount mismatch). */
const REFUNDABLE = new Set(['paid', 'review'])

const NO_ORDER = 'There is no order with this number.'

/** What the desk's refunds need of the orders: find one, record a refund the provider made. */
export interface RefundLedger {
  find: (orderId: string) => Promise<Order | undefined>
  recordRefund: (orderId: string, refundId: string | null, totalCents?: number) => Promise<RefundRecord>
}

/**
 * The admin's refunds, top to bottom: our order first (what is left to refund, the amount
 * asked), then the payment provider (one idempotency key per refund: the order and the amount
 * refunded before it), then one transaction that records it, tells the buyer (the outbox) and,
 * for the last cent, revokes access at once. The provider failing changes nothing here.
 */
export function createRefunds (deps: { orders: RefundLedger, payments: Payments, log: FastifyBaseLogger }) {
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
