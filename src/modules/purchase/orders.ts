import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { InsertResult, Kysely, SelectQueryBuilder, SqlBool } from 'kysely'
import { groupCommit } from '../../db/group-commit.js'
import { prepared } from '../../db/prepared.js'
import type { Runner } from '../../db/runner.js'
import type { Content, Database, Order, OrderEvent, PaymentProviderName } from '../../db/types.js'
import { GUEST_SESSION_PROVIDER, guestAddress, guestEmailUser } from './guests.js'
import { formatAmount } from '../../lib/money.js'
import type { PaymentEvent, RefundEvent, SessionFacts } from './providers/contract.js'

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

/** Which path brought a Checkout Session to fulfil: the buyer's return, or Stripe's event. */
export type FulfilVia = { source: 'redirect' } | { source: 'webhook', eventId: string, type: string }

/**
 * What an order's timeline records (order_events.kind): created, its Checkout Session attached,
 * a success redirect or webhook event that touched it (detail: the outcome), a refund by the
 * admin, and the ends that came from neither (Stripe refused the session; found expired).
 */
export type OrderEventKind = 'created' | 'session' | 'redirect' | 'webhook' | 'refund' | 'failed' | 'expired'

/** The outcome of an event or redirect, as the timeline says it. */
const OUTCOME_WORDS: Record<EventOutcome, string> = {
  granted: 'paid, access granted',
  already_paid: 'already paid, nothing changed',
  processing: 'payment still processing',
  mismatch: 'amount or currency differ from the order: held for review',
  not_payable: 'order not payable, nothing granted',
  unknown_order: 'not this order',
  duplicate: 'duplicate, nothing changed',
  failed: 'payment failed',
  expired: 'checkout expired',
  refunded: 'refunded, access revoked',
  already_refunded: 'already refunded, nothing changed',
  partial_refund: 'partial refund, access kept',
  ignored: 'nothing to change'
}

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

const now = (): string => new Date().toISOString()

/** What the buyer paid for an order: its amount less a promotion's discount. */
export const paidOf = (order: Pick<Order, 'amount_cents' | 'discount_cents'>): number => order.amount_cents - order.discount_cents
const CHECKOUT_LIFETIME_MS = 24 * 60 * 60 * 1000

export function createOrders (deps: { db: Kysely<Database>, runner: Runner, log: FastifyBaseLogger, provider: PaymentProviderName }) {
  const { db, runner, log, provider } = deps
  // Called inside the grant's transaction, with the order as granted (see onGranted).
  const grantListeners: Array<(order: Order, session: SessionFacts) => Promise<void>> = []
  // Called inside the transaction of each refund that returned money (see onRefunded).
  const refundListeners: Array<(order: Order, refund: RefundFacts) => Promise<void>> = []
  const byId = (id: string) => db.selectFrom('orders').selectAll().where('id', '=', id)
  // What a transaction decides from an order's row holds until its commit: on PostgreSQL the row
  // is locked (FOR NO KEY UPDATE, as an UPDATE of it would), so a concurrent refund, event or redirect for the same order waits
  // and then reads the outcome; SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
  const locked = <Q extends { forNoKeyUpdate(): Q }>(query: Q): Q => runner.dialect === 'postgres' ? query.forNoKeyUpdate() : query
  const refundOf = (paymentIntent: string) => db.selectFrom('refunds').select('payment_intent').where('payment_intent', '=', paymentIntent)
  /** A pay-what-you-want item's minimum; no row for an item with a fixed price. */
  const minimumOf = (item: SelectQueryBuilder<Database, 'content', object>) => item.select('content.min_price_cents').where('content.pay_what_you_want', '=', 1)

  // The statements of every webhook event, compiled once (see prepared()).
  const insertNote = prepared<[orderId: string, kind: OrderEventKind, detail: string | null], InsertResult>((arg) =>
    db.insertInto('order_events').values({ order_id: arg<string>(0), kind: arg<OrderEventKind>(1), detail: arg<string | null>(2) }))
  const recordEvent = prepared<[id: string, type: string], InsertResult>((arg) =>
    db.insertInto('stripe_events').values({ id: arg<string>(0), type: arg<string>(1) }).onConflict((oc) => oc.column('id').doNothing()))
  const grantOrder = prepared<[id: string, paidAt: string, paymentIntent: string | null, sessionId: string, owner: number, discount: number], Order>((arg) =>
    db.updateTable('orders')
      .set({ status: 'paid', paid_at: arg<string>(1), payment_intent: arg<string | null>(2), stripe_session_id: arg<string>(3), user_id: arg<number>(4), discount_cents: arg<number>(5) })
      .where('id', '=', arg<string>(0)).where('status', '=', 'pending')
      .returningAll())
  const addToLibrary = prepared<[userId: number, contentId: number, orderId: string, grantedAt: string], InsertResult>((arg) =>
    db.insertInto('library')
      .values({ user_id: arg<number>(0), content_id: arg<number>(1), order_id: arg<string>(2), granted_at: arg<string>(3) })
      .onConflict((oc) => oc.columns(['user_id', 'content_id']).doNothing()))

  /** One line of the order's timeline; callers run it in the transaction of the change it records. */
  async function note (orderId: string, kind: OrderEventKind, detail: string | null = null): Promise<void> {
    await runner.run(insertNote(orderId, kind, detail))
  }

  /**
   * A redirect or webhook event that touched the order, with its outcome. The processing page
   * reloads every 3 seconds: a redirect with the same outcome as the line before it is not
   * written again.
   */
  async function noteVia (orderId: string, via: FulfilVia, outcome: EventOutcome): Promise<void> {
    const words = OUTCOME_WORDS[outcome]
    if (via.source === 'webhook') { await note(orderId, 'webhook', `${via.type} (${via.eventId}): ${words}`); return }
    await runner.run(noteRedirect(orderId, words, orderId, words))
  }

  /** A redirect's line, unless the order's last line is the same redirect's (one statement). */
  // The order id and the words go in twice each: four arguments.
  const noteRedirect = prepared<[orderId: string, words: string, sameOrderId: string, sameWords: string], InsertResult>((arg) => db.insertInto('order_events')
    .columns(['order_id', 'kind', 'detail'])
    .expression(db.selectNoFrom((eb) => [eb.val(arg<string>(0)).as('order_id'), eb.val('redirect').as('kind'), eb.val(arg<string>(1)).as('detail')])
      .where(({ not, exists }) => not(exists(db.selectFrom(db.selectFrom('order_events').select(['kind', 'detail'])
        .where('order_id', '=', arg<string>(2)).orderBy('id', 'desc').limit(1).as('last'))
        .select('last.kind')
        .where('last.kind', '=', 'redirect').where('last.detail', '=', arg<string>(3)))))))

  /** Ends a still-pending order in a terminal state; later events for it change nothing. */
  async function settlePending (orderId: string | null, sessionId: string, status: 'failed' | 'expired'): Promise<{ changes: number, orderId: string | undefined }> {
    const query = db.updateTable('orders').set({ status }).where('status', '=', 'pending')
    const { changes } = await runner.run(orderId !== null
      ? query.where('id', '=', orderId)
      : query.where('stripe_session_id', '=', sessionId))
    const order = await runner.first(orderId !== null
      ? db.selectFrom('orders').select('id').where('id', '=', orderId)
      : db.selectFrom('orders').select('id').where('stripe_session_id', '=', sessionId))
    return { changes, orderId: order?.id }
  }

  /**
   * The one fulfilment function, used by the success redirect and by the webhook. One
   * transaction: the order moves pending -> paid at most once and the
   * library row is inserted at most once; a second caller, concurrent or late, changes nothing
   * and still learns that the order is paid.
   */
  async function fulfil (session: SessionFacts, via: FulfilVia = { source: 'redirect' }): Promise<FulfilResult> {
    return await runner.transaction(async () => await fulfilIn(session, via))
  }

  /** fulfil, inside the caller's transaction (a webhook event's): no savepoint of its own. */
  async function fulfilIn (session: SessionFacts, via: FulfilVia): Promise<FulfilResult> {
    const result = await fulfilNow(session)
    // A session that is not this order's touched nothing of it: nothing on its timeline.
    if (result.order !== undefined && result.outcome !== 'unknown_order') await noteVia(result.order.id, via, result.outcome)
    return result
  }

  /**
   * Who the granted order belongs to: its user, except for a browser's guest checkout, which
   * becomes the purchase of the address Stripe collected (see src/modules/purchase/guests.ts). Without
   * an address (Stripe always collects one) it stays with the browser that bought it.
   */
  async function buyerOf (order: Order, session: SessionFacts, provider?: string | null): Promise<number> {
    const buyer = provider !== undefined ? provider : (await runner.first(db.selectFrom('users').select('provider').where('id', '=', order.user_id)))?.provider
    if (buyer !== GUEST_SESSION_PROVIDER) return order.user_id
    const address = guestAddress(session.customerEmail)
    if (address === null) {
      log.warn({ orderId: order.id, sessionId: session.id }, 'guest checkout paid without an email: the purchase stays with the browser that made it')
      return order.user_id
    }
    return (await guestEmailUser(db, runner, address)).id
  }

  /**
   * A session a Stripe Payment Link made has no order of ours: the first time it is seen, it
   * becomes an order of the item whose stored link it is, at that item's price, for the address
   * Stripe collected (a guest purchase). Later calls find that order by the session's id. A link
   * no item has, or a session without an address, makes nothing.
   */
  async function paymentLinkOrder (session: SessionFacts): Promise<Order | undefined> {
    const existing = await runner.first(db.selectFrom('orders').selectAll().where('stripe_session_id', '=', session.id))
    if (existing !== undefined) return existing
    const content = await runner.first(db.selectFrom('content').selectAll().where('payment_link_id', '=', session.paymentLink!))
    if (content === undefined) {
      log.warn({ sessionId: session.id, paymentLink: session.paymentLink }, 'checkout session from a Payment Link no item has: acknowledged, nothing granted')
      return undefined
    }
    const address = guestAddress(session.customerEmail)
    if (address === null) {
      log.warn({ sessionId: session.id, paymentLink: session.paymentLink }, 'Payment Link session without a buyer email: nothing granted')
      return undefined
    }
    const order = (await runner.first(db.insertInto('orders').values({
      id: randomUUID(),
      user_id: (await guestEmailUser(db, runner, address)).id,
      content_id: content.id,
      amount_cents: content.price_cents,
      currency: content.currency,
      stripe_session_id: session.id,
      provider: 'stripe'
    }).returningAll()))!
    await note(order.id, 'created', `from Payment Link ${session.paymentLink!}`)
    return order
  }

  /**
   * The amounts agree with the order: before discounts the order's amount, after them that
   * amount less the discount (a promotion code), in the order's currency.
   */
  function amountsAgree (order: Order, session: SessionFacts): boolean {
    const discount = session.amountDiscount ?? 0
    const subtotal = session.amountSubtotal ?? session.amountTotal
    return Number.isSafeInteger(discount) && discount >= 0 &&
      subtotal === order.amount_cents &&
      session.amountTotal === order.amount_cents - discount &&
      session.currency?.toLowerCase() === order.currency
  }

  /**
   * The order a session names, locked, with what fulfilling it needs besides, in the same
   * statement: its buyer's provider (a guest's purchase changes hands) and whether its payment
   * was refunded before (the refund's event overtook this one).
   */
  const orderToFulfil = prepared<[orderId: string, paymentIntent: string], Order & { buyer_provider: string | null, refunded_first: SqlBool, minimum_cents: number | null }>((arg) => locked(db.selectFrom('orders').selectAll('orders')
    .select((eb) => [
      eb.selectFrom('users').select('provider').whereRef('users.id', '=', 'orders.user_id').as('buyer_provider'),
      eb.exists(refundOf(arg<string>(1))).as('refunded_first'),
      minimumOf(eb.selectFrom('content').whereRef('content.id', '=', 'orders.content_id')).as('minimum_cents')
    ])
    .where('orders.id', '=', arg<string>(0))))

  /** Fulfils inside the caller's transaction (see fulfil). */
  async function fulfilNow (session: SessionFacts): Promise<FulfilResult> {
    let order: Order | undefined
    let buyerProvider: string | null | undefined
    let refundedFirst: boolean | undefined
    /** The item's pay-what-you-want minimum, null for a fixed price; undefined: not read yet. */
    let minimum: number | null | undefined
    if (session.orderId !== null) {
      const found = await runner.first(orderToFulfil(session.orderId, session.paymentIntent ?? ''))
      if (found !== undefined) {
        const { buyer_provider: provider, refunded_first: refunded, minimum_cents: least, ...row } = found
        order = row
        buyerProvider = provider
        refundedFirst = session.paymentIntent !== null && Boolean(refunded)
        minimum = least
      }
    } else if (session.paymentLink != null) {
      order = await paymentLinkOrder(session)
    }
    if (order === undefined || (order.stripe_session_id !== null && order.stripe_session_id !== session.id)) {
      log.warn({ sessionId: session.id, orderId: session.orderId }, 'checkout session does not belong to a known order')
      return { outcome: 'unknown_order', order }
    }
    if (order.status === 'paid') return { outcome: 'already_paid', order }
    if (order.status !== 'pending') return { outcome: 'not_payable', order }

    if (session.ended != null) {
      // Failed, canceled or expired at the provider (Mollie's return says so): the order ends too.
      await runner.run(db.updateTable('orders').set({ status: session.ended }).where('id', '=', order.id).where('status', '=', 'pending'))
      return { outcome: 'not_payable', order: await runner.first(byId(order.id)) }
    }

    // A promotion code that takes the whole price off: Stripe completes the session without a payment.
    const settled = session.paymentStatus === 'paid' || (session.paymentStatus === 'no_payment_required' && session.amountTotal === 0)
    if (!settled) {
      if (session.paymentIntent !== null && order.payment_intent === null) {
        await runner.run(db.updateTable('orders').set({ payment_intent: session.paymentIntent, stripe_session_id: session.id })
          .where('id', '=', order.id).where('status', '=', 'pending'))
      }
      return { outcome: 'processing', order }
    }

    refundedFirst ??= session.paymentIntent !== null && await runner.first(refundOf(session.paymentIntent)) !== undefined
    if (session.refunded === true || refundedFirst) {
      // The refund overtook this event: the money went back, so nothing is granted.
      await runner.run(db.updateTable('orders').set({ status: 'refunded', refunded_cents: order.amount_cents - (session.amountDiscount ?? 0), payment_intent: session.paymentIntent, stripe_session_id: session.id })
        .where('id', '=', order.id).where('status', '=', 'pending'))
      log.warn({ orderId: order.id, paymentIntent: session.paymentIntent }, 'payment was refunded before it was fulfilled: nothing granted')
      return { outcome: 'not_payable', order: await runner.first(byId(order.id)) }
    }

    if (!amountsAgree(order, session)) {
      log.warn({
        orderId: order.id,
        sessionId: session.id,
        expected: { amount: order.amount_cents, currency: order.currency },
        received: { amount: session.amountTotal, subtotal: session.amountSubtotal, discount: session.amountDiscount, currency: session.currency }
      }, 'paid amount or currency differs from the order: nothing granted, order held for review')
      await runner.run(db.updateTable('orders').set({ status: 'review', payment_intent: session.paymentIntent })
        .where('id', '=', order.id).where('status', '=', 'pending'))
      return { outcome: 'mismatch', order: await runner.first(byId(order.id)) }
    }

    // A discount (a promotion code) must not take a pay-what-you-want item below its minimum.
    minimum ??= (await runner.first(minimumOf(db.selectFrom('content').where('content.id', '=', order.content_id))))?.min_price_cents ?? null
    if (minimum !== null && (session.amountTotal ?? 0) < minimum) {
      log.warn({
        orderId: order.id, sessionId: session.id, minimum, received: { amount: session.amountTotal, subtotal: session.amountSubtotal, discount: session.amountDiscount }
      }, 'paid total is below the pay-what-you-want minimum: nothing granted, order held for review')
      await runner.run(db.updateTable('orders').set({ status: 'review', payment_intent: session.paymentIntent })
        .where('id', '=', order.id).where('status', '=', 'pending'))
      return { outcome: 'mismatch', order: await runner.first(byId(order.id)) }
    }

    const paidAt = now()
    const owner = await buyerOf(order, session, buyerProvider)
    // One statement moves the order and returns it as granted; none moved it: paid already.
    const granted = await runner.first(grantOrder(order.id, paidAt, session.paymentIntent, session.id, owner, session.amountDiscount ?? 0))
    if (granted === undefined) return { outcome: 'already_paid', order: await runner.first(byId(order.id)) }
    await runner.run(addToLibrary(owner, order.content_id, order.id, paidAt))
    // In the same transaction as the grant: what must follow it (a receipt) is never lost.
    for (const listener of grantListeners) await listener(granted, session)
    log.info({ orderId: order.id, sessionId: session.id }, 'order paid and granted')
    return { outcome: 'granted', order: granted }
  }

  /**
   * The order becomes refunded and its buyer loses access at once, unless another paid order of
   * theirs for the same item keeps it. Run inside the caller's transaction.
   */
  async function revokeOrder (order: Order): Promise<string | null> {
    await runner.run(db.updateTable('orders').set({ status: 'refunded', refunded_cents: paidOf(order) }).where('id', '=', order.id).where('status', 'in', ['pending', 'paid', 'review']))
    // Bought twice (two tabs, say) and one refunded: the other purchase still gives access.
    const other = await runner.first(db.selectFrom('orders').select('id')
      .where('user_id', '=', order.user_id).where('content_id', '=', order.content_id)
      .where('status', '=', 'paid').where('id', '!=', order.id))
    if (other !== undefined) {
      await runner.run(db.updateTable('library').set({ order_id: other.id }).where('order_id', '=', order.id))
      log.info({ orderId: order.id, keptBy: other.id }, 'order refunded; access kept by another paid order')
      return other.id
    }
    await runner.run(db.deleteFrom('library').where('order_id', '=', order.id))
    log.info({ orderId: order.id }, 'order refunded and access revoked')
    return null
  }

  /**
   * Brings the order's refunded amount up to `total` (never down: a refund learnt twice, or a
   * provider's older total arriving late, changes nothing). All of what was paid makes the order
   * refunded and revokes access (revokeOrder); less keeps it. A refund that returned money is
   * told to the refund listeners (a notice into the outbox) in this transaction. Runs inside the
   * caller's transaction, on the order's locked row; null when nothing changed.
   */
  async function applyRefund (order: Order, total: number): Promise<RefundFacts | null> {
    const paid = paidOf(order)
    const refundedCents = Math.min(Math.max(total, order.refunded_cents), paid)
    const amountCents = refundedCents - order.refunded_cents
    const full = refundedCents >= paid
    if (order.status === 'refunded' || (amountCents === 0 && !full)) return null
    if (amountCents > 0) await runner.run(db.updateTable('orders').set({ refunded_cents: refundedCents }).where('id', '=', order.id))
    let keptBy: string | null = null
    if (full) {
      // Remembered by payment, as a refund learnt from the provider is: a late completed event grants nothing.
      if (order.payment_intent !== null) {
        await runner.run(db.insertInto('refunds').values({ payment_intent: order.payment_intent }).onConflict((oc) => oc.column('payment_intent').doNothing()))
      }
      keptBy = await revokeOrder(order)
    }
    const granted = order.status === 'paid'
    const holds = granted && await runner.first(db.selectFrom('library').select('order_id')
      .where('user_id', '=', order.user_id).where('content_id', '=', order.content_id)) !== undefined
    const facts: RefundFacts = { amountCents, refundedCents, full, accessKept: granted ? holds : null, keptBy }
    if (amountCents > 0) {
      const now = { ...order, refunded_cents: refundedCents, status: full ? 'refunded' as const : order.status }
      for (const listener of refundListeners) await listener(now, facts)
    }
    return facts
  }

  /**
   * A refund the provider tells of (Stripe's charge.refunded, a Mollie payment's amountRefunded):
   * the order's refunded amount follows the provider's total; all of it revokes access, part of
   * it keeps it. Made from the desk first, it changes nothing more.
   */
  async function revoke (event: RefundEvent): Promise<{ outcome: EventOutcome, orderId?: string }> {
    const { paymentIntent, refunded } = event
    if (paymentIntent === null) return { outcome: refunded ? 'ignored' : 'partial_refund' }
    // Mollie's payment id is both: a payment refunded before its order learnt it was paid.
    let order = await runner.first(locked(db.selectFrom('orders').selectAll().where('payment_intent', '=', paymentIntent))) ??
      await runner.first(locked(db.selectFrom('orders').selectAll().where('stripe_session_id', '=', paymentIntent)))
    if (refunded) {
      // Remembered even for a payment we do not know yet: its completed event may come later.
      await runner.run(db.insertInto('refunds').values({ payment_intent: paymentIntent }).onConflict((oc) => oc.column('payment_intent').doNothing()))
    }
    if (order === undefined) {
      if (refunded) log.warn({ paymentIntent }, 'refund for a payment we do not know yet: recorded, so it is never granted')
      return { outcome: refunded ? 'refunded' : 'partial_refund' }
    }
    // Refunded from the desk before the provider's event came: that refund already did everything.
    if (order.status === 'refunded') return { outcome: 'already_refunded', orderId: order.id }
    if (order.status === 'pending') {
      if (refunded) {
        await revokeOrder(order)
        return { outcome: 'refunded', orderId: order.id }
      }
      // Part of a payment refunded before we heard it was paid: the payment, as the provider
      // has it now, is granted first (Mollie's later notifications carry this state only).
      if (event.session === undefined) return { outcome: 'partial_refund', orderId: order.id }
      const fulfilled = await fulfilNow(event.session)
      if (fulfilled.order === undefined || fulfilled.order.id !== order.id) return { outcome: 'partial_refund', orderId: order.id }
      order = fulfilled.order
    }
    if (order.status !== 'paid' && order.status !== 'review') return { outcome: 'ignored', orderId: order.id }
    // A partial refund whose total the provider did not say: nothing to record.
    if (!refunded && event.amountRefunded == null) return { outcome: 'partial_refund', orderId: order.id }
    const applied = await applyRefund(order, refunded ? paidOf(order) : event.amountRefunded!)
    if (applied === null) return { outcome: 'already_refunded', orderId: order.id }
    return { outcome: applied.full ? 'refunded' : 'partial_refund', orderId: order.id }
  }

  /**
   * Applies a verified webhook event exactly once: its id is recorded in the same transaction
   * as its effect, so a redelivery changes nothing and a crash loses neither.
   */
  async function handleEvent (eventId: string, event: PaymentEvent): Promise<EventOutcome> {
    return await runner.transaction(async () => await handleEventIn(eventId, event))
  }

  /** handleEvent inside the caller's transaction (a group commit's): no savepoints of its own. */
  async function handleEventIn (eventId: string, event: PaymentEvent): Promise<EventOutcome> {
    const recorded = (await runner.run(recordEvent(eventId, event.type))).changes
    if (recorded === 0) return 'duplicate'
    const via: FulfilVia = { source: 'webhook', eventId, type: event.type }
    switch (event.action) {
      case 'complete':
        return (await fulfilIn(event.session, via)).outcome
      case 'fail':
      case 'expire': {
        const status = event.action === 'expire' ? 'expired' : 'failed'
        const settled = await settlePending(event.session.orderId, event.session.id, status)
        const outcome = settled.changes > 0 ? status : 'ignored'
        if (settled.orderId !== undefined) await noteVia(settled.orderId, via, outcome)
        return outcome
      }
      case 'refund': {
        const { outcome, orderId } = await revoke(event)
        if (orderId !== undefined) await noteVia(orderId, via, outcome)
        return outcome
      }
    }
  }

  // Events that arrive in the same turn of the event loop share one commit (see groupCommit).
  // Completed checkouts of different orders (and different event ids) touch nothing of each
  // other (their own event row, order, library row, timeline and receipt) and may be applied
  // side by side; everything else (refunds, failures, Payment Link sessions) runs alone, in
  // event-id order, so that a refund and the completion it races are never interleaved.
  const handleEventSoon = groupCommit(runner, {
    apply: async ({ eventId, event }: { eventId: string, event: PaymentEvent }) => await handleEventIn(eventId, event),
    order: (a, b) => a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0,
    independence: ({ eventId, event }) => event.action === 'complete' && event.session.orderId !== null ? [`event:${eventId}`, `order:${event.session.orderId}`] : null
  })

  return {
    /**
     * Work that must happen exactly when an order is granted, in the same transaction (a
     * receipt into the outbox): awaited inside that transaction (so it awaits nothing but
     * queries), and a throw undoes the grant.
     */
    onGranted (listener: (order: Order, session: SessionFacts) => Promise<void>): void {
      grantListeners.push(listener)
    },

    /**
     * Work that must happen exactly when a refund returns money (a refund notice into the
     * outbox), whether the desk made it or the provider told of it: once per refund, awaited in
     * the transaction that records it, with the order as refunded.
     */
    onRefunded (listener: (order: Order, refund: RefundFacts) => Promise<void>): void {
      refundListeners.push(listener)
    },

    fulfil,

    handleEvent,

    /** handleEvent, committed together with the other events of the same event-loop turn. */
    async handleEventSoon (eventId: string, event: PaymentEvent): Promise<EventOutcome> {
      return await handleEventSoon({ eventId, event })
    },

    /**
     * A pending order, created before the provider is called: at our price, or at the amount the
     * buyer named for a pay-what-you-want item (checked by the caller against its minimum).
     */
    async create (userId: number, content: Content, amount = content.price_cents): Promise<Order> {
      return await runner.transaction(async () => {
        const order = (await runner.first(db.insertInto('orders').values({
          id: randomUUID(),
          user_id: userId,
          content_id: content.id,
          amount_cents: amount,
          currency: content.currency,
          provider
        }).returningAll()))!
        await note(order.id, 'created')
        return order
      })
    },

    /** The provider's checkout for the order: a Stripe Checkout Session, a Mollie payment. */
    async attachSession (orderId: string, sessionId: string): Promise<void> {
      await runner.transaction(async () => {
        if ((await runner.run(db.updateTable('orders').set({ stripe_session_id: sessionId }).where('id', '=', orderId))).changes > 0) await note(orderId, 'session', sessionId)
      })
    },

    /** Stripe refused to create a session: the order will never be paid, so it is not left pending. */
    async abandon (orderId: string): Promise<void> {
      await runner.transaction(async () => {
        if ((await runner.run(db.updateTable('orders').set({ status: 'failed' }).where('id', '=', orderId).where('status', '=', 'pending'))).changes > 0) {
          await note(orderId, 'failed', 'the payment provider refused to open a checkout')
        }
      })
    },

    /**
     * The payment provider made the admin's refund (refundId: its refund, null when it said the
     * payment was already refunded in full), bringing what is refunded of the order to
     * `totalCents` (absent: all of it). One transaction: the order's refunded amount grows to
     * that total (never shrinks); all of it makes the order refunded, remembers the refund by
     * payment (the provider's later event changes nothing more) and revokes access at once (kept
     * by another paid order of the same item); the timeline says so. A second call for the same
     * refund (a double click, the idempotent replay) changes nothing.
     */
    async recordRefund (orderId: string, refundId: string | null, totalCents?: number): Promise<RefundRecord> {
      return await runner.transaction(async () => {
        const order = await runner.first(locked(byId(orderId)))
        if (order === undefined) return { outcome: 'unknown_order', keptBy: null, refundedCents: 0 }
        const paid = paidOf(order)
        const total = refundId === null || totalCents === undefined ? paid : Math.min(totalCents, paid)
        const amount = formatAmount(Math.max(total - order.refunded_cents, 0), order.currency)
        const applied = await applyRefund(order, total)
        const outcome = (full: boolean): RefundRecord['outcome'] => full ? 'refunded' : 'partially_refunded'
        if (applied === null) {
          // The provider's event for this very refund can overtake its answer (the demo's
          // emulator delivers at once): the refund is still the admin's, on the timeline once.
          const detail = refundId === null ? 'by the admin (Stripe had already refunded the charge)' : `by the admin (${refundId})`
          const noted = await runner.first(db.selectFrom('order_events').select('id')
            .where('order_id', '=', order.id).where('kind', '=', 'refund').where('detail', 'like', `%${detail}`))
          const done = { keptBy: null, refundedCents: order.refunded_cents }
          if (refundId === null || noted !== undefined) return { outcome: 'already_refunded', ...done }
          await note(order.id, 'refund', detail)
          return { outcome: outcome(order.status === 'refunded'), ...done }
        }
        await note(order.id, 'refund', refundId === null ? `${amount} by the admin (Stripe had already refunded the charge)` : `${amount} by the admin (${refundId})`)
        return { outcome: outcome(applied.full), keptBy: applied.keptBy, refundedCents: applied.refundedCents }
      })
    },

    /** The order's timeline, oldest first. */
    async events (orderId: string): Promise<OrderEvent[]> {
      return await runner.all(db.selectFrom('order_events').selectAll().where('order_id', '=', orderId).orderBy('at').orderBy('id'))
    },

    async find (orderId: string): Promise<Order | undefined> {
      return await runner.first(byId(orderId))
    },

    async bySession (sessionId: string): Promise<Order | undefined> {
      return await runner.first(db.selectFrom('orders').selectAll().where('stripe_session_id', '=', sessionId))
    },

    /**
     * The user's latest checkout for the item that may still be open: pending, with a session,
     * younger than a Checkout Session lives (24 hours).
     */
    async openFor (userId: number, contentId: number, now = new Date()): Promise<Order | undefined> {
      return await runner.first(db.selectFrom('orders').selectAll()
        .where('user_id', '=', userId).where('content_id', '=', contentId)
        .where('status', '=', 'pending').where('stripe_session_id', 'is not', null)
        .where('created_at', '>', new Date(now.getTime() - CHECKOUT_LIFETIME_MS).toISOString())
        .orderBy('created_at', 'desc').limit(1))
    },

    /** A pending order whose Checkout Session has ended without payment. */
    async expire (orderId: string): Promise<void> {
      await runner.transaction(async () => {
        if ((await runner.run(db.updateTable('orders').set({ status: 'expired' }).where('id', '=', orderId).where('status', '=', 'pending'))).changes > 0) {
          await note(orderId, 'expired', 'its Checkout Session had expired when the buyer came back')
        }
      })
    }
  }
}

export type Orders = ReturnType<typeof createOrders>
